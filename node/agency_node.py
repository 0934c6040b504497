"""One agency's node: its settings, keys, log and sequencer, and the submit rules.

``init_node`` creates a node directory; ``Node.open`` loads one. ``Node.submit``
is the single entry point for new records, used by the HTTP API and tests alike.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DatabaseError, OperationalError

from pel.crypto.cosignature import CosignatureSigner, MLDSACosignatureSigner
from pel.crypto.errors import PelError
from pel.crypto.keys import PublicKey, SigningKey
from pel.crypto.mldsa import MLDSASigningKey
from pel.crypto.note import NoteSigner, NoteVerifier, parse_vkey
from pel.crypto.request import sign_request
from pel.ledger.errors import BatchError, DamagedLogError
from pel.ledger.federation.mirror_store import MirrorStore
from pel.ledger.federation.quorum import QuorumResult
from pel.ledger.federation.trust_list import SignedTrustList, TrustList
from pel.ledger.federation.witness import Witness, parse_request, stored_witness_state
from pel.ledger.records.entries import Appended, PreparedRecord
from pel.ledger.storage.engine import StorageError, check_reachable, create_schema, make_engine
from pel.ledger.tlog.checkpoint import open_checkpoint
from pel.ledger.tlog.entry_check import EntryRules
from pel.ledger.tlog.log import CheckReport, Log
from pel.node import metrics
from pel.node.access.replay_guard import ReplayGuard
from pel.node.access.tokens import create_token, open_token_table
from pel.node.config import KEY_FILES, MLDSA_KEY_FILE, NodeSettings, load_settings, save_settings
from pel.node.errors import ConfigError
from pel.node.integrity.tables import check_tables
from pel.node.integrity.witness_copy import FILE as WITNESS_STATE_FILE
from pel.node.integrity.witness_copy import WitnessStateFile
from pel.node.peers.mirror_follower import MirrorFollower, describe, note_checkpoint, receive_gossip
from pel.node.serving.cosigning import CosignatureCollector
from pel.node.serving.prepare_batch import BatchRules, check_batch_size, prepare_batch
from pel.node.serving.sequencer import Sequencer
from pel.node.serving.signature_workers import SignaturePool, parallel_map
from pel.node.serving.tile_readahead import TilePrewarm
from pel.node.serving.wal_upkeep import WalCopy
from pel.node.trust.chain import KnownKeys, applied_versions, chain_files, load_trust_list
from pel.node.trust.rotation import install_rotated_keys
from pel.node.trust.secret_files import read_mldsa_key, read_private_key, write_private_key

log = logging.getLogger("pel.node")


def witness_name(origin: str) -> str:
    """The witness's key name: the host part of the log's origin, then ``/witness``."""
    return origin.split("/", 1)[0] + "/witness"


def utc_now() -> str:
    """Now as an RFC 3339 UTC time with second precision."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def witness_pq_key(directory: Path) -> MLDSASigningKey:
    """The node's ML-DSA-44 witness key; a node made before it had one gets one now
    (0600), so every witness cosigns with both types."""
    path = directory / MLDSA_KEY_FILE
    if not path.exists():
        write_private_key(path, MLDSASigningKey.generate())
        log.info("created the ML-DSA-44 witness key %s", path)
    return read_mldsa_key(path)


def witnessed_note(
    note: bytes, log_key: NoteVerifier, trust_list: TrustList, agency: str
) -> QuorumResult:
    """Whether a checkpoint of ``agency``'s log, as stored with its cosignatures, meets
    the trust list's witness quorum (what ``Node.witnessed`` reports).

    Raises:
        CheckpointError: the note is not signed by the log key.
    """
    opened = open_checkpoint(note, log_key)
    return trust_list.quorum_rule(agency).check_note(opened.note)


def default_database_url(directory: Path) -> str:
    return f"sqlite:///{(directory / 'pel.db').resolve()}"


class Node:
    """A loaded node: settings, keys, the log and (once started) its sequencer."""

    def __init__(
        self,
        directory: Path,
        settings: NodeSettings,
        keys: dict[str, SigningKey],
        pq_key: MLDSASigningKey | None = None,
    ):
        self.directory = directory
        self.settings = settings
        self.agency = settings.agency
        self.issuer_key = keys["issuer"]
        self.log_signer = NoteSigner(settings.origin, keys["log"])
        self.witness_key = keys["witness"]
        self.witness_pq_key = pq_key if pq_key is not None else witness_pq_key(directory)
        self.engine = make_engine(settings.database_url)
        with database_damage():
            self.repaired_indexes = create_schema(self.engine)
        self.tokens = open_token_table(directory, self.engine)
        name = witness_name(settings.origin)
        self.witness_copy = WitnessStateFile(
            directory / WITNESS_STATE_FILE, lambda: stored_witness_state(self.engine)
        )
        self.witness = Witness(
            self.engine,
            CosignatureSigner(name, keys["witness"]),
            {},
            MLDSACosignatureSigner(name, self.witness_pq_key),
            self.witness_copy,
        )
        self.trust_list: TrustList | None = None
        self.cosigning: CosignatureCollector | None = None
        self.mirrors = MirrorStore(self.engine)
        self.mirroring: MirrorFollower | None = None
        self._trust_stamp: tuple[int, float] | None = None
        self.refresh_trust_list()
        self.log = Log(self.engine, self.log_verifier, signer=self.log_signer, index=settings.index)
        self.log.rules = self.entry_rules()
        self.log.cosignatures.keys = self.known_keys().witness
        self.log.map_fn = parallel_map
        self._install_keys()
        self.signatures = SignaturePool(self.issuer_key)
        self.replays = ReplayGuard()
        self.sequencer: Sequencer | None = None
        self.prewarm = TilePrewarm(self.log, settings.prewarm_max_bytes)
        self.wal_copy = WalCopy(self.engine) if self.engine.dialect.name == "sqlite" else None

    @classmethod
    def open(cls, directory: Path, **overrides: Any) -> Node:
        settings = load_settings(directory, **overrides)
        install_rotated_keys(directory, settings)
        keys = {name: read_private_key(directory / rel) for name, rel in KEY_FILES.items()}
        return cls(directory, settings, keys)

    @property
    def log_verifier(self) -> NoteVerifier:
        return parse_vkey(self.log_signer.vkey)

    def sign_request(self, audience: str, method: str, target: str, body: bytes = b"") -> str:
        """A ``Pel-Agency`` authorization for a request to ``audience``'s node (another
        member's agency), signed with this agency's issuer key (``crypto.request``)."""
        return sign_request(
            self.issuer_key,
            method,
            target,
            int(time.time()),
            audience=audience,
            body=body,
            agency=self.agency,
        )

    @property
    def issuer_public_key(self) -> PublicKey:
        return self.issuer_key.public_key

    def issuer_keys(self, issuer: str) -> list[PublicKey]:
        """Keys that may sign records of ``issuer`` in this log: only the node's agency,
        and, in a federation, only with the key the current trust list gives it."""
        if issuer != self.agency:
            return []
        if self.trust_list is None:
            return [self.issuer_public_key]
        member = self.trust_list.member(issuer)
        # Only the key listed now: a retired key signs nothing new, whatever time a
        # record claims.
        return [member.issuer_public_key] if member else []

    def entry_rules(self) -> EntryRules:
        """What every entry of this log must be: the agency's records under its keys, and
        agreements proposed by another party under every party's key."""
        parties: dict[str, list[PublicKey]] = {}
        for path in chain_files(self.directory):
            for m in SignedTrustList.from_json(path.read_text()).trust_list.members:
                keys = parties.setdefault(m.agency, [])
                if m.issuer_public_key not in keys:
                    keys.append(m.issuer_public_key)
        return EntryRules(self.agency, tuple(self.issuer_history()), parties)

    def known_keys(self) -> KnownKeys:
        """Every member's keys in every trust-list version the node applied."""
        return KnownKeys.of(applied_versions(self.directory))

    def issuer_history(self) -> list[PublicKey]:
        """Every key the agency signed this log's records with: the node's own, and the
        agency's key in each trust-list version the node applied (rotations included)."""
        keys = [self.issuer_public_key]
        for path in chain_files(self.directory):
            member = SignedTrustList.from_json(path.read_text()).trust_list.member(self.agency)
            if member is not None and member.issuer_public_key not in keys:
                keys.append(member.issuer_public_key)
        return keys

    def witnessed(self) -> dict[str, Any]:
        """The latest checkpoint's cosigners and whether they make the trust list's quorum."""
        latest = self.log.latest()
        if latest is None or self.trust_list is None:
            return {
                "size": latest.checkpoint.size if latest else 0,
                "cosigners": [],
                "quorum": self.trust_list.witness_quorum if self.trust_list else 0,
                "witnessed": False,
            }
        size = latest.checkpoint.size
        result = witnessed_note(
            self.log.cosigned_note(size), self.log_verifier, self.trust_list, self.agency
        )
        return {
            "size": size,
            "cosigners": list(result.verified),
            "quorum": result.quorum,
            "witnessed": result.ok,
        }

    def current_trust_list(self) -> TrustList | None:
        """The trust list, loaded again first if a version was applied meanwhile."""
        self.refresh_trust_list()
        return self.trust_list

    def mirror_status(self) -> dict[str, Any]:
        """Every other member's log as this node mirrors it, and the logs flagged for a fork."""
        flagged = self.mirrors.flagged()
        states = {st.origin: st for st in self.mirrors.states()}
        follower = self.mirroring
        mirrors = {
            m.origin: describe(
                states.get(m.origin),
                m,
                follower.status.get(m.origin) if follower else None,
                flagged,
            )
            for m in (self.trust_list.members if self.trust_list else ())
            if m.agency != self.agency
        }
        return {"mirrors": mirrors, "flagged": sorted(flagged)}

    def gossip(self, notes: Sequence[str]) -> list[dict[str, Any]]:
        """Compare checkpoints a peer passed on with this node's mirrors (``/v1/gossip``)."""
        return receive_gossip(self.mirrors, self.trust_list, self.agency, notes, self.mirroring)

    def add_checkpoint(self, body: bytes, *, now: int) -> bytes:
        """C2SP tlog-witness (``POST /add-checkpoint``). A checkpoint the witness cannot
        judge itself — it holds none of the log yet, or a larger one — is first compared
        with this node's copy of the log, so a fork the copy proves flags the log before
        the witness looks (the witness then refuses it, 403)."""
        # A malformed request is left to the witness, which refuses it with its own status.
        with contextlib.suppress(PelError, UnicodeDecodeError):
            note = parse_request(body).note
            cp = note_checkpoint(note)
            held = self.witness.latest(cp.origin)
            if held is None or cp.size < held[0]:
                self.gossip([note.decode()])
        return self.witness.add_checkpoint(body, now=now)

    def refresh_trust_list(self) -> None:
        """Load the trust-list chain again if a version was applied since the last look."""
        files = chain_files(self.directory)
        stamp = (len(files), files[-1].stat().st_mtime) if files else (0, 0.0)
        if stamp == self._trust_stamp:
            return
        settings = load_settings(self.directory) if files else self.settings
        self.trust_list = load_trust_list(self.directory, settings)
        self._trust_stamp = stamp
        self._install_keys()
        tl = self.trust_list
        self.witness.logs = (
            {m.origin: m.log_verifier for m in tl.members if m.agency != self.agency} if tl else {}
        )
        if getattr(self, "log", None) is not None:  # a version applied since: a rotated key
            self.log.rules = self.entry_rules()
            self.log.cosignatures.keys = self.known_keys().witness
        if tl is not None and getattr(self, "cosigning", None) is not None:
            self.cosigning.trust_list = tl  # rotated witness keys verify from now on

    def _install_keys(self) -> None:
        """Install the node's rotated keys that the trust list now lists, and keep the
        log's retired keys (its older checkpoints stay valid)."""
        tl = self.trust_list
        member = tl.member(self.agency) if tl else None
        installed = set(install_rotated_keys(self.directory, self.settings) if member else [])
        # ``pel federation apply`` may have installed them on disk already: a key in
        # memory that the trust list no longer lists is read again.
        if member is not None:
            if member.issuer_key != self.issuer_key.public_key.to_base64():
                installed.add("issuer")
            if member.log_verifier.public_key != self.log_signer.key.public_key:
                installed.add("log")
            if member.witness_verifier.public_key != self.witness_key.public_key:
                installed.add("witness")
        if "issuer" in installed:
            self.issuer_key = read_private_key(self.directory / KEY_FILES["issuer"])
            if hasattr(self, "signatures"):
                self.signatures.use_key(self.issuer_key)
            log.info("installed the rotated issuer key")
        if "witness" in installed:
            self.witness_key = read_private_key(self.directory / KEY_FILES["witness"])
            self.witness_pq_key = read_mldsa_key(self.directory / MLDSA_KEY_FILE)
            name = self.witness.signer.name
            self.witness.signer = CosignatureSigner(name, self.witness_key)
            self.witness.pq_signer = MLDSACosignatureSigner(name, self.witness_pq_key)
            log.info("installed the rotated witness keys")
        if "log" in installed:
            self.log_signer = NoteSigner(
                self.settings.origin, read_private_key(self.directory / KEY_FILES["log"])
            )
            log.info("installed the rotated log key")
        if member is not None and hasattr(self, "log"):
            self.log.use_key(self.log_signer, tuple(member.log_verifiers()[1:]))

    # ---- lifecycle ---------------------------------------------------------------

    def check(
        self,
        *,
        full: bool | None = None,
        progress: Any = None,
        signatures: bool = False,
        repair: bool = False,
    ) -> CheckReport:
        """Refuse to serve a log whose stored data does not reproduce its checkpoint, or
        whose stored facts disagree with its entries (``Log.check_integrity``), or a
        node whose other tables disagree with what signs them (``node.integrity.tables``).

        Returns:
            What was checked, and what was mended without loss.

        Raises:
            IntegrityError: the reason, with a stable code (``DamagedLogError``'s codes,
                ``database_damaged`` for a file the database cannot read).
        """
        full = self.settings.full_check_on_start if full is None else full
        started = time.perf_counter()
        report = CheckReport(repaired=[f"index {ix} made again" for ix in self.repaired_indexes])
        with database_damage(), mistyped_values():
            self.log.check_integrity(
                full=full, progress=progress, signatures=signatures, repair=repair, report=report
            )
            check_tables(self, report, full=full, signatures=signatures, repair=repair)
        origin = self.settings.origin
        metrics.STARTUP_CHECK_SECONDS.labels(origin, "full" if full else "quick").set(
            time.perf_counter() - started
        )
        metrics.STARTUP_CHECK_ENTRIES.labels(origin).set(report.size)
        log.info(
            "integrity check passed (%s) at tree size %d: %s",
            "full" if full else "quick",
            report.size,
            report.line(),
        )
        return report

    def start(self, *, check: bool = True) -> None:
        """Check the stored log (unless just checked), then start sequencing."""
        if check:
            self.check()
        self.signatures.start()
        self.sequencer = Sequencer(self.log, interval=self.settings.checkpoint_interval)
        self.sequencer.start()
        if self.wal_copy is not None:
            self.wal_copy.start()
        if self.settings.prewarm_tiles:
            self.prewarm.start()
        if self.trust_list is not None and len(self.trust_list.members) > 1:
            self.cosigning = CosignatureCollector(self.log, self.trust_list, self.agency)
            self.cosigning.start()
            # A new checkpoint goes to the witnesses at once, not at the collector's next round.
            self.sequencer.on_publish = self.cosigning.poke
            self.mirroring = MirrorFollower(
                self.mirrors,
                self.current_trust_list,
                self.agency,
                interval=self.settings.mirror_interval,
                bundles=self.settings.mirror_bundles,
                timeout=self.settings.mirror_timeout,
                gossip_interval=self.settings.gossip_interval,
                start_check=self.signatures.start_check_mirrored,
                sign=self.sign_request,
            )
            self.mirroring.start()
        metrics.watch(self)

    def stop(self) -> None:
        metrics.unwatch(self)
        self.prewarm.stop()
        if self.mirroring is not None:
            self.mirroring.stop()
            self.mirroring = None
        if self.cosigning is not None:
            if self.sequencer is not None:
                self.sequencer.on_publish = None
            self.cosigning.stop()
            self.cosigning = None
        if self.sequencer is not None:
            self.sequencer.stop()
            self.sequencer = None
        if self.wal_copy is not None:
            self.wal_copy.stop()
        self.signatures.stop()
        self.log.close()
        self.engine.dispose()

    # ---- writing -----------------------------------------------------------------

    def batch_rules(self, now: str) -> BatchRules:
        """What this node's rules say about a batch submitted now (trust list as loaded)."""
        tl = self.trust_list
        not_member = None
        if tl is not None and tl.member(self.agency) is None:
            not_member = (
                f"{self.agency} is not a member of the federation's current trust list "
                f"(version {tl.version})"
            )
        if tl is not None:
            parties = tuple((m.agency, m.issuer_public_key.raw) for m in tl.members)
        else:
            parties = ((self.agency, self.issuer_public_key.raw),)
        return BatchRules(
            agency=self.agency,
            now=now,
            max_records=self.settings.max_batch_records,
            not_member=not_member,
            can_sign=self.issuer_public_key in self.issuer_keys(self.agency),
            party_keys=parties,
        )

    def _verify(self, work: list[tuple[bytes, bytes]]) -> list[bool]:
        return self.signatures.verify(self.issuer_keys(self.agency), work)

    def prepare(self, item: object, *, now: str) -> PreparedRecord:
        """Validate, sign (a draft) or check (a signed record) one submitted record."""
        try:
            return prepare_batch([item], self.batch_rules(now), self.signatures.sign, self._verify)[
                0
            ]
        except BatchError as exc:
            raise exc.problems[0][1] from None

    def submit(self, items: Sequence[object]) -> list[Appended]:
        """Validate, sign (drafts) and append a batch: all of it, or nothing.

        Raises:
            BatchError: listing every refused record by position; nothing appended.
        """
        with self._measured():
            self.refresh_trust_list()
            rules = self.batch_rules(utc_now())
            check_batch_size(items, rules)
            return self._append(prepare_batch(items, rules, self.signatures.sign, self._verify))

    def submit_json(self, raw: bytes) -> list[Appended]:
        """:meth:`submit` for a batch as its JSON body (parsed strictly: UTF-8, no
        duplicate keys, no NaN), prepared in a signature worker when it is big.

        Raises:
            RecordError: the body is not a JSON array of records, or is too big.
            BatchError: as :meth:`submit`.
        """
        with self._measured():
            self.refresh_trust_list()
            rules = self.batch_rules(utc_now())
            keys = self.issuer_keys(self.agency)
            return self._append(self.signatures.prepare_json(raw, rules, keys))

    @contextlib.contextmanager
    def _measured(self) -> Iterator[None]:
        """Time a submitted batch, and count what it refused by code."""
        origin = self.settings.origin
        started = time.perf_counter()
        try:
            yield
        except BatchError as exc:
            for _, problem in exc.problems:
                metrics.RECORDS_REFUSED.labels(origin, problem.code).inc()
            raise
        except PelError as exc:  # the whole body refused (not JSON, too big …)
            if exc.http_status < 500:  # a failure of the node's own is no refusal
                metrics.RECORDS_REFUSED.labels(origin, exc.code).inc()
            raise
        metrics.BATCH_SECONDS.labels(origin).observe(time.perf_counter() - started)

    def _append(self, prepared: list[PreparedRecord]) -> list[Appended]:
        appended = self.log.append(prepared)
        if self.sequencer is not None:
            self.sequencer.poke()
        duplicates = sum(1 for a in appended if a.duplicate)
        origin = self.settings.origin
        metrics.RECORDS_APPENDED.labels(origin).inc(len(appended) - duplicates)
        if duplicates:
            metrics.RECORDS_DUPLICATE.labels(origin).inc(duplicates)
        metrics.BATCH_RECORDS.labels(origin).observe(len(appended))
        return appended


@contextlib.contextmanager
def database_damage() -> Iterator[None]:
    """Turn the database driver's "this file is damaged" into ``database_damaged``:
    a reason with a code, not a driver's traceback."""
    try:
        yield
    except DatabaseError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if isinstance(exc, OperationalError) or not any(
            word in reason for word in ("malformed", "not a database", "corrupt")
        ):
            raise
        raise DamagedLogError(
            f"the database file is damaged: {reason}", code="database_damaged"
        ) from None


@contextlib.contextmanager
def mistyped_values() -> Iterator[None]:
    """Turn a stored value of another type than its column's (SQLite keeps what it is
    given: text in a column of bytes, say) into ``database_damaged`` while the stored
    data is checked, rather than a traceback from the first code that reads it."""
    try:
        yield
    except (TypeError, UnicodeDecodeError) as exc:
        raise DamagedLogError(
            f"a stored value is not of its column's type ({type(exc).__name__}: {exc})",
            code="database_damaged",
        ) from None
    except OperationalError as exc:
        if "Could not decode" not in str(exc):
            raise
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise DamagedLogError(
            f"a stored value is not of its column's type: {reason}", code="database_damaged"
        ) from None


def init_node(
    directory: Path, *, agency: str, origin: str, database_url: str | None = None
) -> tuple[Node, str]:
    """Create a node directory: keys (0600), settings, database, and one write token.

    Returns:
        The node and its first write token (shown once; only its hash is stored).
    """
    from pel.ledger.records.fields import check_agency

    try:
        check_agency(agency)
    except Exception:
        raise ConfigError(
            f"{agency!r} is not an agency id: an agency id is the ISO 3166-1 alpha-2 code of "
            "its country, '-', then 2-24 capitals or digits, e.g. MY-PERKESO or PH-SSS"
        ) from None
    if not origin or any(c.isspace() for c in origin) or "+" in origin:
        raise ConfigError("the origin must be one word with no '+', e.g. perkeso.gov.my/pel")
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "node.json").exists():
        raise ConfigError(f"{directory} already holds a node")
    settings = NodeSettings(
        agency=agency,
        origin=origin,
        database_url=database_url or default_database_url(directory),
    )
    # Before any file is written: a node refused for its database leaves nothing behind.
    try:
        check_reachable(settings.database_url)
    except StorageError:
        if created:
            directory.rmdir()
        raise
    keys = {name: SigningKey.generate() for name in KEY_FILES}
    for name, rel in KEY_FILES.items():
        write_private_key(directory / rel, keys[name])
    pq_key = MLDSASigningKey.generate()
    write_private_key(directory / MLDSA_KEY_FILE, pq_key)
    save_settings(directory, settings)
    node = Node(directory, settings, keys, pq_key)
    if node.log.state() != (0, 0):
        raise ConfigError("the database already holds a log; give an empty database")
    token = create_token(node.tokens, agency, label="init", role="admin")
    return node, token


__all__ = ["Node", "init_node", "utc_now"]
