"""``pel audit``: the auditor's complete check of one log, resumable, with evidence.

A *source* is any base URL serving C2SP tlog-tiles (``<base>/checkpoint``,
``<base>/tile/…``): the log's own node, or a member's mirror of it at
``<node>/mirror/<origin>``. One audit:

1. fetches the source's checkpoint and verifies the log's signature on it;
2. resuming from the state directory, checks that the new tree holds the last
   audited one as its prefix (a prefix proof read from the served tiles, checked
   against the new signed root) — a rewritten history is a proven fork;
3. downloads the entry bundles added since (all of them the first time, or with
   ``full``), rehashes
   every entry, rebuilds every tile from the saved right edge and compares it with
   the served one and the root with the signed one, and checks every record's
   signature and that the log's owner issued it (``node.verify.rebuild_log``); an
   agreement, which another party may have issued, with every party's signature;
4. decides again every entitlement record that names its basis (from the records,
   rules and agreements it names, fetched from their logs) and compares the figures
   (``node.peers.decision_audit``);
5. checks every checkpoint seen in earlier audits against the audited tree;
6. checks the witnesses' cosignatures on the checkpoint against the quorum;
7. checks that every agreement in the log is in every other party's log too (the same
   bytes, with an inclusion proof to that log's signed checkpoint);
8. compares each mirror's checkpoint with the audited tree (a larger one through a
   prefix proof to the mirror's signed root);
9. rebuilds the log's verifiable index from the entries (kept in the state directory
   between audits) and compares its root with the one the checkpoint commits to; a
   wrong root is located with the log's own index answers and written as
   ``pel-index-evidence/v1`` (``node.peers.index_check``);
10. saves the new state atomically and writes a JSON report of what it checked.

A failure never stops the report: each carries its evidence, and proven forks and
wrong indexes are written as files that ``pel evidence verify`` accepts.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pel.crypto.errors import PelError
from pel.crypto.keys import PublicKey
from pel.crypto.note import NoteVerifier
from pel.ledger.errors import AuditStateError, IntegrityError, MismatchError, TileError
from pel.ledger.federation.evidence import ForkEvidence, checkpoint_of, verify_fork
from pel.ledger.federation.quorum import QuorumRule
from pel.ledger.federation.trust_list import Member, TrustList
from pel.ledger.index import MemoryIndex
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import prefix_proof, verify_inclusion
from pel.ledger.merkle.tiles import TILE_WIDTH, TileHashReader, decode_entry_bundle
from pel.ledger.records import encode_entry
from pel.ledger.tlog.audit_checks import AuditState, Seen, check_cosignatures, check_prefix
from pel.ledger.tlog.checkpoint import SignedCheckpoint, open_checkpoint
from pel.ledger.tlog.rebuild import TileRebuilder
from pel.node.errors import AuditFailed, AuthError, ConfigError, PeerError
from pel.node.peers.client import LogClient, RemoteError, ServedTiles
from pel.node.peers.decision_audit import Entitlements, recheck
from pel.node.peers.index_check import check_index, index_text, load_index, pwid_of
from pel.node.peers.remote_verify import VerifyReport, rebuild_log

REPORT_FORMAT = "pel-audit-report/v1"
EVIDENCE_FORMAT = "pel-audit-evidence/v1"
STATE_FILE = "state.json"
INDEX_FILE = "index.json"

Progress = Callable[[str, int, int | None, int], None]
"""``progress(phase, done, total, bytes downloaded so far)``."""


@dataclass(frozen=True)
class AuditTrust:
    """The keys an audit checks against: from a trust list, or given one by one."""

    log_key: NoteVerifier
    issuer_key: PublicKey | None
    issuer: str | None
    quorum: QuorumRule | None = None
    mirrors: tuple[str, ...] = ()
    trust_list: TrustList | None = None
    #: ``(agency, raw issuer key)`` of every member: agreements are checked with them.
    party_keys: tuple[tuple[str, bytes], ...] | None = None
    #: Every other member's node URL and log key: where an agreement's presence is checked.
    parties: dict[str, tuple[str, NoteVerifier]] = field(default_factory=dict)
    member: Member | None = None

    @classmethod
    def from_trust_list(cls, tl: TrustList, origin: str) -> AuditTrust:
        """The owner's log and issuer keys, the other members as witnesses and mirrors."""
        owner = tl.member_for_origin(origin)
        if owner is None:
            raise ConfigError(f"no member of {tl.federation} has the log {origin!r}")
        others = [m for m in tl.members if m.agency != owner.agency]
        return cls(
            log_key=owner.log_verifier,
            issuer_key=owner.issuer_public_key,
            issuer=owner.agency,
            quorum=tl.quorum_rule(owner.agency),
            mirrors=tuple(f"{m.url.rstrip('/')}/mirror/{origin}" for m in others),
            trust_list=tl,
            party_keys=tuple((m.agency, m.issuer_public_key.raw) for m in tl.members),
            parties={m.agency: (m.url, m.log_verifier) for m in others},
            member=owner,
        )


@dataclass
class Failure:
    """One thing that did not hold, with its evidence and the file it was written to."""

    code: str
    message: str
    evidence: dict[str, Any]
    file: str = ""


@dataclass
class AuditReport:
    """Exactly what one audit checked (written as JSON, see ``to_dict``)."""

    source: str
    origin: str = ""
    started: str = ""
    finished: str = ""
    size_from: int = 0
    size_to: int = 0
    root: str = ""
    resumed: bool = False
    full: bool = False
    rehashed_from: int = 0
    tree: VerifyReport = field(default_factory=VerifyReport)
    requests: int = 0
    bytes: int = 0
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    cosignatures: dict[str, Any] | None = None
    mirrors: list[dict[str, Any]] = field(default_factory=list)
    entitlements: int = 0
    agreements: list[dict[str, Any]] = field(default_factory=list)
    index: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "ok": self.ok,
            "source": self.source,
            "origin": self.origin,
            "started": self.started,
            "finished": self.finished,
            "tree_size": {"from": self.size_from, "to": self.size_to, "root": self.root},
            "resumed": self.resumed,
            "full": self.full,
            "rehashed": {"from": self.rehashed_from, "to": self.size_to},
            "entries_rehashed": self.tree.entries,
            "bundles_fetched": self.tree.bundles,
            "tiles_compared": self.tree.tiles,
            "signatures_verified": self.tree.signatures,
            "requests": self.requests,
            "bytes_downloaded": self.bytes,
            "checkpoints": self.checkpoints,
            "cosignatures": self.cosignatures,
            "mirrors": self.mirrors,
            "entitlements_recomputed": self.entitlements,
            "agreements": self.agreements,
            "index": self.index,
            "warnings": self.warnings,
            "failures": [
                {"code": f.code, "message": f.message, "evidence": f.evidence, "file": f.file}
                for f in self.failures
            ],
        }


class CountingTransport(httpx.BaseTransport):
    """Counts the requests and response bytes of every client of one audit."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = inner or httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        body = response.read()
        with self._lock:
            self.requests += 1
            self.bytes += len(body)
        return response

    def close(self) -> None:
        """Kept open while any client of the audit may still use it: see ``shut``."""

    def shut(self) -> None:
        self._inner.close()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_atomic(path: Path, text: str) -> None:
    """Write the whole file or leave the old one: a temporary file, fsync, rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class _Audit:
    """One audit run: the driver around ``ledger.audit``'s pure checks."""

    def __init__(
        self,
        url: str,
        state_dir: Path,
        trust: AuditTrust,
        *,
        mirrors: Sequence[str],
        transport: CountingTransport,
        progress: Progress | None,
        workers: int,
        full: bool = False,
        token: str | None = None,
    ) -> None:
        self.dir = state_dir
        self.full = full
        self.trust = trust
        self.mirrors = list(dict.fromkeys([*mirrors, *trust.mirrors]))
        self.counter = transport
        # The token goes to the audited source only (the node that issued it), never to
        # the mirrors compared with, which serve checkpoints and hash tiles to anyone.
        self.client = LogClient(url, token=token, transport=self.counter)
        self.token = token
        self.progress = progress
        self.workers = workers
        self.started = _now()
        self.stamp = self.started.strftime("%Y%m%dT%H%M%S.%fZ")
        self.report = AuditReport(self.client.base_url, started=_iso(self.started))
        self._readers: dict[tuple[str, int], TileHashReader] = {}
        self.index: MemoryIndex | None = None
        self.changed: set[str] = set()
        self.entitlements = Entitlements()

    # ---- helpers ---------------------------------------------------------------------

    def _say(self, phase: str, done: int = 0, total: int | None = None) -> None:
        if self.progress:
            self.progress(phase, done, total, self.counter.bytes)

    def _reader(self, client: LogClient, size: int) -> TileHashReader:
        key = (client.base_url, size)
        if key not in self._readers:
            self._readers[key] = TileHashReader(ServedTiles(client, size))
        return self._readers[key]

    def _prefix(self, client: LogClient, first: int, second: int) -> list[bytes]:
        if not 0 < first < second:
            return []
        return prefix_proof(first, second, self._reader(client, second))

    def _evidence_file(self, name: str, text: str) -> str:
        folder = self.dir / "evidence"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.stamp}-{name}.json"
        write_atomic(path, text)
        return str(path)

    def fail(self, code: str, message: str, evidence: dict[str, Any]) -> None:
        doc = {"format": EVIDENCE_FORMAT, "code": code, "message": message}
        doc.update(origin=self.report.origin, source=self.report.source, **evidence)
        path = self._evidence_file(code, json.dumps(doc, indent=2) + "\n")
        self.report.failures.append(Failure(code, message, evidence, path))

    def fork(self, code: str, message: str, ev: ForkEvidence, sources: list[str]) -> None:
        how = verify_fork(ev, self.trust.log_key)  # only a proven fork is reported as one
        path = self._evidence_file(code, ev.to_json())
        evidence = {
            "first": ev.first.decode(),
            "second": ev.second.decode(),
            "sources": sources,
            "proof_hashes": len(ev.proof),
            "proven": how,
        }
        self.report.failures.append(Failure(code, f"{message}: {how}", evidence, path))

    def open(self, note: bytes) -> SignedCheckpoint:
        return open_checkpoint(note, self.trust.log_key)

    # ---- the audit -------------------------------------------------------------------

    def load_state(self) -> AuditState | None:
        path = self.dir / STATE_FILE
        if not path.exists():
            return None
        return AuditState.from_json(path.read_bytes())

    def first_issuer(self, size: int) -> str:
        """Without a trust list, the log's owner is whoever issued its first record."""
        if size == 0:
            return ""
        width = min(size, TILE_WIDTH)
        entries = decode_entry_bundle(
            self.client.entry_bundle(0, None if width == TILE_WIDTH else width)
        )
        try:
            return str(json.loads(entries[0])["issuer"])
        except (ValueError, KeyError, TypeError, IndexError):
            return ""

    def run(self) -> AuditReport:
        r = self.report
        self._say("checkpoint")
        new = self.open(self.client.checkpoint())
        cp = new.checkpoint
        r.origin, r.size_to, r.root = cp.origin, cp.size, base64.b64encode(cp.root).decode()
        state = self.load_state()
        rebuilt = TileRebuilder()
        seen: list[Seen] = []
        r.full = self.full
        if state is not None:
            old, builder = state.open(self.trust.log_key)
            # --full: every entry from size 0 again (a log changed after the last audit
            # is found wherever the change is); else from the saved right edge.
            if not self.full:
                rebuilt = TileRebuilder(builder.size, state.edge)
            seen = list(state.seen)
            r.resumed, r.size_from = True, old.checkpoint.size
            issuer = self.trust.issuer or state.issuer or self.first_issuer(cp.size)
            if self.trust.issuer and state.issuer != self.trust.issuer:
                raise AuditStateError(f"the state is of {state.issuer!r}'s log")
            if not self.check_against(old, new, "the last audit"):
                return self.finish(None)
        else:
            issuer = self.trust.issuer or self.first_issuer(cp.size)
        r.rehashed_from = rebuilt.size
        self.index = (
            MemoryIndex() if rebuilt.size == 0 else load_index(self.dir / INDEX_FILE, rebuilt.size)
        )
        if self.index is None:
            r.warnings.append("index not checked: no saved index for the audited entries")
        if not self.rebuild(new, rebuilt, issuer):
            return self.finish(None)
        self.check_index(new)
        self.decisions()
        for earlier in seen:
            self.check_against(self.open(earlier.note), new, earlier.source)
        self.cosignatures(new)
        self.agreements_present(issuer)
        seen.append(Seen(new.note, r.source))
        for url in self.mirrors:
            if (got := self.mirror(url, new)) is not None:
                seen.append(got)
        unique = {(s.checkpoint.size, s.checkpoint.root): s for s in seen}
        state = AuditState(cp.origin, issuer, new.note, rebuilt.edge(), tuple(unique.values()))
        return self.finish(state)

    def check_against(self, earlier: SignedCheckpoint, new: SignedCheckpoint, where: str) -> bool:
        """Is the audited (new) tree consistent with a checkpoint seen before? Record it."""
        a, b = earlier.checkpoint, new.checkpoint
        entry: dict[str, Any] = {"size": b.size, "against": {"size": a.size, "source": where}}
        if a.size > b.size:
            entry["result"] = "log shrank"
            self.report.checkpoints.append(entry)
            self.fail(
                "log_shrank",
                f"the log now serves {b.size} entries; {a.size} were audited before",
                {"earlier": earlier.note.decode(), "later": new.note.decode()},
            )
            return False
        try:
            proof = self._prefix(self.client, a.size, b.size)
            fork = check_prefix(earlier, new, proof)
        except PelError as exc:
            # The served tiles do not lead to the signed root: a rebuild still to come names
            # the tile; after it, only the network can be at fault. Either way, said.
            entry["result"] = f"not checked: no prefix proof from the served tiles: {exc.message}"
            self.report.checkpoints.append(entry)
            self.report.warnings.append(f"size {a.size} ({where}): {entry['result']}")
            return True
        entry["result"] = "fork" if fork else "consistent"
        entry["how"] = "equal roots" if a.size == b.size else f"prefix proof ({len(proof)} hashes)"
        self.report.checkpoints.append(entry)
        if fork is not None:
            self.fork(
                "fork",
                f"the log rewrote the history audited at size {a.size} ({where})",
                fork,
                [where, self.report.source],
            )
            return False
        return True

    def _take_entries(self, first: int, entries: list[bytes]) -> None:
        """Every new entry: into the rebuilt index, and the entitlements to decide again."""
        self._index_entries(first, entries)
        self.entitlements.take(first, entries)

    def _index_entries(self, first: int, entries: list[bytes]) -> None:
        if self.index is None:
            return
        for k, entry in enumerate(entries):
            pwid = pwid_of(entry)
            self.index.add(first + k, pwid)
            self.changed.add(pwid)

    def check_index(self, new: SignedCheckpoint) -> None:
        """Compare the committed index root with the one rebuilt from the entries."""
        if self.index is None:
            return
        self._say("index")
        verdict = check_index(self.client, new, self.index, self.changed, self.trust.log_key)
        size = new.checkpoint.size
        if verdict.ok:
            self.report.index = {"size": size, "result": "rebuilt root matches"}
            return
        if verdict.committed is None:
            self.report.index = {"size": size, "result": "no index committed"}
            self.report.warnings.append(f"the checkpoint at size {size} commits to no index")
            return
        self.report.index = {"size": size, "result": "wrong index"}
        ev = verdict.evidence
        message = f"the index root committed at size {size} is not the one its entries make"
        if ev is None:
            self.fail(
                "wrong_index",
                message + " (not located: the log's answers did not show where)",
                {
                    "checkpoint": new.note.decode(),
                    "rebuilt_root": base64.b64encode(verdict.rebuilt or b"").decode(),
                    "proven": False,
                },
            )
            return
        path = self._evidence_file("wrong_index", ev.to_json())
        evidence = {"checkpoint": new.note.decode(), "index": ev.index, "proven": verdict.how}
        self.report.failures.append(
            Failure("wrong_index", f"{message}: {verdict.how}", evidence, path)
        )

    def rebuild(self, new: SignedCheckpoint, rebuilt: TileRebuilder, issuer: str) -> bool:
        key = self.trust.issuer_key
        try:
            rebuild_log(
                self.client,
                new.checkpoint,
                rebuilt,
                self.report.tree,
                issuer_key=key,
                issuer=issuer or None,
                party_keys=self.trust.party_keys,
                retired=self.trust.member.retired_issuer_keys() if self.trust.member else (),
                workers=self.workers,
                progress=lambda d, t: self._say("entries", d, t),
                on_entries=self._take_entries,
            )
        except (IntegrityError, TileError) as exc:
            found = exc.evidence if isinstance(exc, MismatchError) else {}
            evidence = dict(found, checkpoint=new.note.decode())
            code = "hash_mismatch" if exc.code in ("integrity_failure", "bad_tile") else exc.code
            self.fail(code, exc.message, evidence)
            return False
        return True

    def decisions(self) -> None:
        """Decide again every new entitlement record that names its basis."""
        found = self.entitlements
        if not found.found:
            return
        if self.trust.trust_list is None:
            self.report.warnings.append(
                f"{len(found.found)} entitlement record(s) with a basis not recomputed: "
                "that needs the trust list (--trust) to reach the other members' logs"
            )
            return
        self._say("decisions", 0, len(found.found))
        self.report.entitlements = recheck(
            found,
            self.trust.trust_list,
            (self.report.origin, self.client),
            self.counter,
            self.fail,
            token=self.token,
        )

    def cosignatures(self, new: SignedCheckpoint) -> None:
        if self.trust.quorum is None:
            self.report.warnings.append("no trust list: witness cosignatures not checked")
            return
        self._say("cosignatures")
        check = check_cosignatures(new.note, self.trust.quorum)
        self.report.cosignatures = check.to_dict()
        if check.invalid:
            self.fail(
                "bad_cosignature",
                "a witness's cosignature on the checkpoint of size "
                f"{new.checkpoint.size} does not verify: "
                + "; ".join(f"{a}: {why}" for a, why in sorted(check.invalid.items())),
                dict(check.to_dict(), checkpoint=new.note.decode()),
            )
        if not check.ok:
            self.fail(
                "no_quorum",
                f"{len(check.verified)} witness(es) cosigned the checkpoint of size "
                f"{new.checkpoint.size} under the {check.policy!r} policy; the quorum is "
                f"{check.quorum}",
                dict(check.to_dict(), checkpoint=new.note.decode()),
            )

    def agreements_present(self, owner: str) -> None:
        """Is every agreement of the audited entries in every other party's log? Each
        party's node is asked for the agreement (``/v1/law/agreements/…``); its entry
        must be the same bytes (the same leaf hash), and an inclusion proof from that
        node must lead to that log's signed checkpoint. A party whose node cannot be
        reached is a warning; one whose log lacks the agreement, or proves another
        record, is a failure (``agreement_missing``, ``agreement_mismatch``)."""
        found = self.report.tree.agreements
        if not found:
            return
        if not self.trust.parties:
            self.report.warnings.append(
                "no trust list: the presence of agreements in the other parties' logs "
                "was not checked"
            )
            return
        self._say("agreements")
        for agreement in found:
            row = dict(agreement, present={})
            self.report.agreements.append(row)
            for party in agreement["parties"]:
                if party == owner:
                    row["present"][party] = f"index {agreement['index']} (this log)"
                    continue
                row["present"][party] = self._present_in(party, agreement)

    def _present_in(self, party: str, agreement: dict[str, Any]) -> str:
        where = self.trust.parties.get(party)
        key = f"{agreement['issuer']}/{agreement['id']}"
        if where is None:
            self.fail(
                "agreement_missing",
                f"agreement {key}: party {party} is not in the trust list",
                {"agreement": agreement, "party": party},
            )
            return "not a member"
        url, log_key = where
        try:
            with LogClient(url, transport=self.counter) as client:
                held = client.law(f"agreements/{agreement['issuer']}/{agreement['id']}")
                signed = open_checkpoint(client.checkpoint(), log_key)
                size = signed.checkpoint.size
                index = int(held["index"])
                if index >= size:
                    raise AuditStateError(f"index {index} is not in the checkpoint of size {size}")
                leaf = hash_leaf(encode_entry(held["record"]))
                verify_inclusion(
                    index, size, leaf, client.inclusion_proof(index, size), signed.checkpoint.root
                )
        except RemoteError as exc:
            if exc.status == 404:
                self.fail(
                    "agreement_missing",
                    f"agreement {key} is not in the log of {party}",
                    {"agreement": agreement, "party": party, "url": url},
                )
                return "absent"
            self.report.warnings.append(f"agreement {key}: {party} answered {exc.message}")
            return "not checked"
        except PeerError as exc:
            self.report.warnings.append(f"agreement {key}: {party} unreachable: {exc.message}")
            return "unreachable"
        except (PelError, KeyError, TypeError, ValueError) as exc:
            message = exc.message if isinstance(exc, PelError) else repr(exc)
            self.fail(
                "agreement_mismatch",
                f"agreement {key}: the log of {party} does not prove it: {message}",
                {"agreement": agreement, "party": party, "url": url},
            )
            return "not proven"
        if base64.b64encode(leaf).decode() != agreement["leaf_hash"]:
            self.fail(
                "agreement_mismatch",
                f"agreement {key}: the log of {party} holds other bytes under that id",
                {"agreement": agreement, "party": party, "url": url},
            )
            return "different record"
        return f"index {index} (inclusion proof at size {size})"

    def mirror(self, url: str, new: SignedCheckpoint) -> Seen | None:
        """Compare one mirror's checkpoint with the audited tree; the checkpoint if it holds."""
        self._say(f"mirror {url}")
        row: dict[str, Any] = {"url": url}
        self.report.mirrors.append(row)
        with LogClient(url, transport=self.counter) as mclient:
            return self._mirror(url, mclient, new, row)

    def _mirror(
        self, url: str, mclient: LogClient, new: SignedCheckpoint, row: dict[str, Any]
    ) -> Seen | None:
        try:
            note = mclient.checkpoint()
        except PeerError as exc:
            row["result"] = "unreachable"
            self.report.warnings.append(f"mirror {url} unreachable: {exc.message}")
            return None
        try:
            theirs = self.open(note)
        except PelError as exc:
            row["result"] = "bad checkpoint"
            self.fail(
                "bad_mirror",
                f"mirror {url}: {exc.message}",
                {"mirror": url, "note": note.decode(errors="replace")},
            )
            return None
        m, n = theirs.checkpoint.size, new.checkpoint.size
        row["size"] = m
        try:
            if m <= n:
                proof = self._prefix(self.client, m, n)
                fork = check_prefix(theirs, new, proof)
                row["how"] = "equal roots" if m == n else "prefix proof from the audited tiles"
            else:
                fork, row["how"] = self._ahead(mclient, new, theirs)
        except PelError as exc:
            row["result"] = "bad tiles"
            self.fail(
                "bad_mirror", f"mirror {url}: {exc.message}", {"mirror": url, "note": note.decode()}
            )
            return None
        if fork is not None:
            row["result"] = "inconsistent"
            self.fork(
                "mirror_fork",
                f"mirror {url} disagrees with the audited log",
                fork,
                [self.report.source, url],
            )
            return None
        row["result"] = "consistent"
        return Seen(note, url)

    def _ahead(
        self, mclient: LogClient, new: SignedCheckpoint, theirs: SignedCheckpoint
    ) -> tuple[ForkEvidence | None, str]:
        """A mirror ahead of the audited tree: the origin's proof to the mirror's size,
        or, if the source cannot give it, the mirror's own (both are checked against the
        mirror's signed root, so either proves the same thing)."""
        m, n = theirs.checkpoint.size, new.checkpoint.size
        try:
            proof = self._prefix(self.client, n, m)
            return check_prefix(new, theirs, proof), "prefix proof from the source's tiles"
        except PelError:
            proof = self._prefix(mclient, n, m)
            return check_prefix(new, theirs, proof), "prefix proof from the mirror's tiles"

    def finish(self, state: AuditState | None) -> AuditReport:
        r = self.report
        r.finished = _iso(_now())
        r.requests, r.bytes = self.counter.requests, self.counter.bytes
        self.dir.mkdir(parents=True, exist_ok=True)
        if state is not None:
            if self.index is not None:  # first: a state without it is audited again
                write_atomic(self.dir / INDEX_FILE, index_text(self.index))
            write_atomic(self.dir / STATE_FILE, state.to_json())
        return r


def entries_refused(url: str, exc: RemoteError, token: str | None) -> AuthError:
    """Say which credential an entry read needs, after a 401 or 403 from ``url``."""
    if token is None:
        what = (
            f"{url} serves its log's entries only with credentials: give --token with an "
            "auditor token issued by that node (pel token create --role auditor there)"
        )
    else:
        what = (
            f"{url} refused the token given ({exc.message}): it needs an auditor token "
            "issued by that node, not revoked"
        )
    return AuthError(what, code="auditor_token_needed")


def audit_log(
    url: str,
    state_dir: Path,
    trust: AuditTrust | TrustList,
    *,
    mirrors: Sequence[str] = (),
    report_file: Path | None = None,
    transport: httpx.BaseTransport | None = None,
    progress: Progress | None = None,
    workers: int = 4,
    full: bool = False,
    token: str | None = None,
) -> AuditReport:
    """Audit the log served at ``url``, resuming from the state in ``state_dir``.

    Args:
        url: The source's base URL (the node, or ``<node>/mirror/<origin>``).
        state_dir: Where the state, the reports and the evidence files are kept.
        trust: The keys to check with, or a trust list (the served checkpoint's
            origin picks the member whose log it is).
        mirrors: Further mirror base URLs to compare with.
        report_file: Also write the JSON report here.
        full: Rehash and check every entry from size 0 even with a saved state (which
            still supplies the checkpoints to check the log against).
        token: An auditor token issued by the node serving ``url`` (its entry bundles
            are served only with credentials); sent to that node only.

    Returns:
        The report (also written to ``state_dir/report-<time>.json``).

    Raises:
        AuditFailed: the audit found an inconsistency (the report is attached).
        AuthError: the source refused to serve its entries without (other) credentials.
        PelError: the source is unreachable, its checkpoint is not the log's, or the
            state is unusable.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    counter = CountingTransport(transport)
    try:
        if isinstance(trust, TrustList):
            with LogClient(url, transport=counter) as probe:
                origin = checkpoint_of(probe.checkpoint()).origin
            trust = AuditTrust.from_trust_list(trust, origin)
        audit = _Audit(
            url,
            state_dir,
            trust,
            mirrors=mirrors,
            transport=counter,
            progress=progress,
            workers=workers,
            full=full,
            token=token,
        )
        with audit.client:
            try:
                report = audit.run()
            except RemoteError as exc:
                if exc.status not in (401, 403):
                    raise
                raise entries_refused(url, exc, token) from None
    finally:
        counter.shut()
    text = json.dumps(report.to_dict(), indent=2) + "\n"
    path = state_dir / f"report-{audit.stamp}.json"
    write_atomic(path, text)
    report.files.append(str(path))
    if report_file is not None:
        write_atomic(report_file, text)
        report.files.append(str(report_file))
    if report.failures:
        first = report.failures[0]
        more = f" (and {len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
        raise AuditFailed(first.message + more, code=first.code, report=report)
    return report
