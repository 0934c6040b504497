"""``pel verify``: check a remote log from its public tlog-tiles data alone.

Fetches the checkpoint (verified with the given log key), every entry bundle and
every tile, rehashes every entry, rebuilds every tile and the root, compares them
with what was served, and checks a sample of the node's inclusion proofs against
the checkpoint. Optionally checks every record's issuer signature.

``rebuild_log`` is the part ``pel audit`` shares: it grows a tree from any right
edge (empty, or the one a previous audit saved) to a checkpoint's size.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import random
from collections import deque
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pel.crypto.errors import PelError
from pel.crypto.keys import PublicKey
from pel.crypto.note import NoteVerifier
from pel.crypto.record import read_entry, record_signature
from pel.ledger.errors import IntegrityError, LedgerError, MismatchError, TileError
from pel.ledger.federation.trust_list import RetiredIssuerKeys, retired_key_verdict
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import verify_inclusion
from pel.ledger.merkle.tiles import TILE_WIDTH, decode_entry_bundle
from pel.ledger.portability.agreements import entry_problem, keys_from_raw
from pel.ledger.tlog.checkpoint import Checkpoint, open_checkpoint
from pel.ledger.tlog.rebuild import TileRebuilder, compare_tiles
from pel.node.peers.client import LogClient
from pel.node.serving.signature_workers import WORKERS, submit_crypto

#: From this many entries on, signatures are checked in worker processes (see
#: ``_SignatureChecks``); below, the start-up would cost more than it saves.
PROCESSES_FROM = 20_000


@dataclass
class VerifyReport:
    """What ``verify_log`` checked."""

    origin: str = ""
    tree_size: int = 0
    root: bytes = b""
    entries: int = 0
    tiles: int = 0
    signatures: int = 0
    proofs: int = 0
    bundles: int = 0
    problems: list[str] = field(default_factory=list)
    #: Every agreement record met: ``{"index", "issuer", "id", "parties", "leaf_hash"}``.
    agreements: list[dict[str, Any]] = field(default_factory=list)


def _bundles(
    client: LogClient, first: int, size: int, workers: int
) -> Iterator[tuple[int, list[bytes], bytes]]:
    """``(n, entries, level-0 tile)`` for every bundle from the one holding entry ``first``
    up to ``size``, in order, fetched in parallel."""
    count = (size + TILE_WIDTH - 1) // TILE_WIDTH

    def fetch(n: int) -> tuple[int, list[bytes], bytes]:
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        w = None if width == TILE_WIDTH else width
        entries = decode_entry_bundle(client.entry_bundle(n, w))
        if len(entries) != width:
            raise IntegrityError(f"entry bundle {n} has {len(entries)} entries, expected {width}")
        return n, entries, client.tile(0, n, w)

    with ThreadPoolExecutor(workers) as pool:
        # A window of fetches kept in flight, topped up as each bundle is taken.
        window: deque[Future[tuple[int, list[bytes], bytes]]] = deque()
        following = first // TILE_WIDTH
        for _ in range(following, count):
            while following < count and len(window) < workers * 4:
                window.append(pool.submit(fetch, following))
                following += 1
            yield window.popleft().result()


def _bad_record(index: int, entry: bytes, message: str, code: str) -> MismatchError:
    evidence = {"index": index, "entry": base64.b64encode(entry).decode(), "reason": message}
    return MismatchError(f"entry {index}: {message}", evidence=evidence, code=code)


class _SignatureChecks:
    """Issuer signatures (and, given ``issuer``, that the log's owner issued each record)
    checked on every core while the caller goes on with the next bundles, so parsing and
    hashing overlap with the Ed25519 work instead of waiting for it. Results are settled
    in log order, at most ``ahead`` batches behind, so the first bad entry is the one
    reported (a problem may surface at a later ``submit`` or at ``finish``).

    ``processes``: verify in one worker process per core rather than in threads.
    ``cryptography`` holds the GIL for part of each verification, so threads of one
    process reach about 1.5 cores, and they compete with the parsing; worker processes
    cost a start-up of a fraction of a second, worth it for big logs only.

    ``batch``: entries gathered before they are handed out (one task per core), so the
    cost of a task — pickling, the pool's threads waking, the result — is paid once per
    ``batch / cores`` entries rather than once per half bundle.
    """

    def __init__(
        self,
        key: PublicKey,
        *,
        issuer: str | None = None,
        party_keys: tuple[tuple[str, bytes], ...] | None = None,
        ahead: int = 4,
        batch: int = 1024,
        processes: bool = False,
        retired: RetiredIssuerKeys = (),
    ) -> None:
        self._key = key
        self._issuer = issuer
        self._parties = party_keys
        self.retired = retired
        self._ahead = ahead
        self._batch = batch
        self._gathered: list[bytes] = []
        self._gathered_from = 0
        self._pending: deque[tuple[list[bytes], int, list[Future[Problem | None]]]] = deque()
        self._pool: ProcessPoolExecutor | None = None
        if processes:
            self._pool = ProcessPoolExecutor(
                max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn")
            )

    def submit(self, entries: list[bytes], first: int) -> None:
        """Queue the checks of ``entries`` (the first is entry ``first``; each call's
        entries follow the previous call's)."""
        if not self._gathered:
            self._gathered_from = first
        elif first != self._gathered_from + len(self._gathered):
            raise ValueError(f"entries from {first} do not follow the ones queued")
        self._gathered.extend(entries)
        if len(self._gathered) >= self._batch:
            self._hand_out()
        while len(self._pending) > self._ahead:
            self._settle()

    def _hand_out(self) -> None:
        entries, first = self._gathered, self._gathered_from
        self._gathered = []
        if not entries:
            return
        size = -(-len(entries) // WORKERS)
        chunks = [(first + i, entries[i : i + size]) for i in range(0, len(entries), size)]
        raw, issuer, parties, old = self._key.raw, self._issuer, self._parties, self.retired
        args = (issuer, parties, old)
        if self._pool is not None:
            futures = [self._pool.submit(check_records, raw, c, at, *args) for at, c in chunks]
        else:
            futures = [submit_crypto(check_records, raw, c, at, *args) for at, c in chunks]
        self._pending.append((entries, first, futures))

    def finish(self) -> None:
        """Wait for every queued check; raise on the first bad record."""
        try:
            self._hand_out()
            while self._pending:
                self._settle()
        finally:
            self.close()

    def raise_before(self, limit: int) -> None:
        """Settle the checks of the entries before entry ``limit`` and raise on the first
        bad one: a problem found at ``limit`` (a hash that does not match, a short bundle)
        is reported only when no earlier entry is bad. Later checks are dropped."""
        try:
            self._hand_out()
            while self._pending and self._pending[0][1] < limit:
                entries, first, futures = self._pending.popleft()
                for future in futures:
                    problem = future.result()
                    if problem is not None and problem[0] < limit:
                        index, code, message = problem
                        raise _bad_record(index, entries[index - first], message, code)
        finally:
            self._pending.clear()
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _settle(self) -> None:
        entries, first, futures = self._pending.popleft()
        for future in futures:
            problem = future.result()
            if problem is not None:
                self._pending.clear()
                self.close()
                index, code, message = problem
                raise _bad_record(index, entries[index - first], message, code)


#: What is wrong with a record: its index, an error code and a message.
Problem = tuple[int, str, str]


def check_records(
    raw_key: bytes,
    entries: list[bytes],
    first: int,
    issuer: str | None = None,
    party_keys: tuple[tuple[str, bytes], ...] | None = None,
    retired: RetiredIssuerKeys = (),
) -> Problem | None:
    """The first entry (entry ``first`` onwards) that is not a record signed by
    ``raw_key`` (or, given ``issuer``, issued by someone else), or None. A plain
    function, so that worker processes run it: the parsing and canonical JSON are
    theirs too.

    Given ``party_keys`` (every member's issuer key, from the trust list), an
    ``agreement`` is checked as one: the proposer's signature and every party's
    (it may be another party's record, appended to every party's log). Without them it
    is checked like any record."""
    key = PublicKey(raw_key)
    parties = keys_from_raw(party_keys) if party_keys is not None else None
    for i, e in enumerate(entries):
        try:
            record, message = read_entry(e)  # canonical JSON, its signing bytes cut out
            sig = record_signature(record)
        except (PelError, ValueError, AttributeError) as exc:
            return first + i, "bad_record", f"not a signed record: {exc}"
        if parties is not None and record.get("type") == "agreement":
            problem = entry_problem(record, message, sig, owner=issuer, keys=parties)
            if problem is not None:
                return first + i, problem[0], problem[1]
            continue
        if issuer is not None and record.get("issuer") != issuer:
            return (
                first + i,
                "foreign_issuer",
                f"issued by {record.get('issuer')!r}, not by the log's owner {issuer!r}",
            )
        if not key.verify(sig, message):
            # Made before a rotation, with a key the trust list keeps as retired?
            verdict = retired_key_verdict(retired, record.get("issued_at"), sig, message)
            if verdict is not None:
                return first + i, *verdict
    return None


#: In canonical JSON a string's quotes are escaped, so this occurs only as a member.
_AGREEMENT = b'"type":"agreement"'


def _note_agreements(
    entries: list[bytes], hashes: list[bytes], first: int, report: VerifyReport
) -> None:
    """Add the agreements among ``entries`` to ``report.agreements`` (a cheap byte search
    first: agreements are rare)."""
    for i, e in enumerate(entries):
        if _AGREEMENT not in e:
            continue
        try:
            record = json.loads(e)
            if record.get("type") != "agreement":
                continue
            report.agreements.append(
                {
                    "index": first + i,
                    "issuer": record["issuer"],
                    "id": record["id"],
                    "parties": list(record["body"]["parties"]),
                    "leaf_hash": base64.b64encode(hashes[i]).decode(),
                }
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # the signature checks report a malformed record


def _first_entry(exc: LedgerError, bundle_first: int) -> int:
    """The first entry in log order that ``exc``, raised while the bundle starting at
    entry ``bundle_first`` was checked, concerns: the entry under the first differing
    hash of a tile, or else the bundle's first entry."""
    evidence = exc.evidence if isinstance(exc, MismatchError) else {}
    if isinstance(evidence.get("index"), int):
        return int(evidence["index"])
    tile, position = evidence.get("tile"), evidence.get("position")
    if isinstance(tile, str) and isinstance(position, int):
        level, index = (int(x) for x in tile.split("/"))
        return (index * TILE_WIDTH + position) << (8 * level)
    return bundle_first


def _fetch_tiles(client: LogClient, coords: list[tuple[int, int]], partial: dict) -> list[bytes]:
    out = []
    for level, index in coords:
        width = len(partial[(level, index)]) // 32 if (level, index) in partial else None
        out.append(client.tile(level, index, width))
    return out


def rebuild_log(
    client: LogClient,
    checkpoint: Checkpoint,
    rebuilt: TileRebuilder,
    report: VerifyReport,
    *,
    issuer_key: PublicKey | None = None,
    issuer: str | None = None,
    party_keys: tuple[tuple[str, bytes], ...] | None = None,
    workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
    keep: Collection[int] = (),
    retired: RetiredIssuerKeys = (),
    on_entries: Callable[[int, list[bytes]], None] | None = None,
) -> dict[int, bytes]:
    """Grow ``rebuilt`` to the checkpoint's size from the served entries and check it.

    Fetches every entry bundle from ``rebuilt.size`` on (the first one again when it
    was partial: its old entries must still hash to the saved edge), rehashes every
    entry, compares each tile it completes and the final partial tiles with the
    served ones, and the root with the checkpoint's; checks record signatures when
    given the issuer key. Counts go into ``report``.

    ``on_entries(first, entries)`` is given every new entry, in order (the auditor
    rebuilds the log's index from them).

    Returns:
        The leaf hashes of the indexes in ``keep`` (for sampled inclusion proofs).

    Raises:
        MismatchError: with the evidence of the first difference found.
    """
    size = checkpoint.size
    resumed = rebuilt.size
    if resumed > size:
        raise IntegrityError(f"the log shrank from {resumed} to {size} entries")
    leaf_hashes: dict[int, bytes] = {}
    wanted = set(keep)
    done = 0
    signatures = None
    if issuer_key is not None:
        processes = size - resumed >= PROCESSES_FROM
        signatures = _SignatureChecks(
            issuer_key, issuer=issuer, party_keys=party_keys, processes=processes, retired=retired
        )
    first = resumed - resumed % TILE_WIDTH
    try:
        for n, entries, tile0 in _bundles(client, resumed, size, workers):
            first = n * TILE_WIDTH
            hashes = [hash_leaf(e) for e in entries]
            for index in wanted.intersection(range(first, first + len(entries))):
                leaf_hashes[index] = hashes[index - first]
            skip = max(0, resumed - first)
            if skip:  # the partial bundle the last audit ended in
                old = rebuilt.edge().get(0, b"")
                compare_tiles({(0, n): old}, [b"".join(hashes[:skip])], "audited")
                entries, hashes, first = entries[skip:], hashes[skip:], first + skip
            if on_entries is not None:
                on_entries(first, entries)
            report.bundles += 1
            _note_agreements(entries, hashes, first, report)
            if signatures is not None:
                signatures.submit(entries, first)
                report.signatures += len(entries)
            full = rebuilt.add(hashes)
            if full:
                fetched = {(0, n): tile0}
                upper = sorted(c for c in full if c[0] > 0)
                fetched.update(zip(upper, _fetch_tiles(client, upper, {}), strict=True))
                compare_tiles(full, [fetched[c] for c in sorted(full)], "served")
                report.tiles += len(full)
            else:
                compare_tiles({(0, n): rebuilt.edge()[0]}, [tile0], "served")
            report.entries += len(entries)
            done += len(entries)
            if progress:
                progress(done, size - resumed)
            first = (n + 1) * TILE_WIDTH
        if signatures is not None:
            signatures.finish()
    except (IntegrityError, TileError) as exc:
        # Signature checks run behind: an earlier bad record is the one to report.
        if signatures is not None:
            signatures.raise_before(_first_entry(exc, first))
        raise
    finally:
        if signatures is not None:
            signatures.close()
    partial = rebuilt.partial_tiles()
    if partial and size > resumed:
        compare_tiles(partial, _fetch_tiles(client, sorted(partial), partial), "served")
        report.tiles += len(partial)
    if size and rebuilt.root() != checkpoint.root:
        raise MismatchError(
            "the entries served do not hash to the checkpoint's root",
            evidence={
                "tree_size": size,
                "expected_root": base64.b64encode(checkpoint.root).decode(),
                "calculated_root": base64.b64encode(rebuilt.root()).decode(),
            },
        )
    return leaf_hashes


def verify_log(
    client: LogClient,
    log_key: NoteVerifier,
    *,
    issuer_key: PublicKey | None = None,
    party_keys: tuple[tuple[str, bytes], ...] | None = None,
    samples: int = 100,
    workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
    rng: random.Random | None = None,
) -> VerifyReport:
    """Verify a log end to end; raise a ``PelError`` on the first failure."""
    report = VerifyReport()
    signed = open_checkpoint(client.checkpoint(), log_key)
    cp = signed.checkpoint
    report.origin, report.tree_size, report.root = cp.origin, cp.size, cp.root
    rng = rng or random.Random()
    sample = set(rng.sample(range(cp.size), min(samples, cp.size))) if cp.size else set()
    leaf_hashes = rebuild_log(
        client,
        cp,
        TileRebuilder(),
        report,
        issuer_key=issuer_key,
        party_keys=party_keys,
        workers=workers,
        progress=progress,
        keep=sample,
    )
    indexes = sorted(sample)
    with ThreadPoolExecutor(workers) as pool:
        # Fetched side by side (each is a round trip), checked in index order.
        proofs = pool.map(lambda i: client.inclusion_proof(i, cp.size), indexes)
        for index, proof in zip(indexes, proofs, strict=True):
            verify_inclusion(index, cp.size, leaf_hashes[index], proof, cp.root)
            report.proofs += 1
    return report
