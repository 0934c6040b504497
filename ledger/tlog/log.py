"""One agency's log: append records, integrate them into the tree, serve tiles and proofs.

The write path has two steps, as in every tiled log:

1. :meth:`Log.append` assigns indexes and commits entries in one transaction (a
   record is acknowledged only after this commit). ``(issuer, id)`` is idempotent.
2. :meth:`Log.integrate` extends the stored tiles over the new entries, signs a
   checkpoint, and publishes it with a compare-and-swap on the stored tree size,
   all in one transaction: a crash leaves either the old or the new checkpoint,
   never a checkpoint that disagrees with the tiles.

Reads (tiles, entry bundles, proofs) only ever look at data covered by the latest
checkpoint, and every proof reads O(log n) stored hashes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from pel.crypto.note import NoteSignature, NoteSigner, NoteVerifier
from pel.ledger.errors import (
    BatchError,
    CheckpointError,
    ConflictError,
    DamagedLogError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    ProofError,
    RecordError,
)
from pel.ledger.index import (
    IndexProof,
    Node,
    extension_line,
    key_of,
    parse_extension,
    prove,
    value_hash,
    verify_index_proof,
)
from pel.ledger.index import (
    Path as IndexPath,
)
from pel.ledger.index import (
    update as update_index,
)
from pel.ledger.index.check import IndexTreeError, check_read
from pel.ledger.merkle.builder import TreeBuilder, edge_of
from pel.ledger.merkle.hashing import EMPTY_ROOT, hash_leaf
from pel.ledger.merkle.proof import consistency_proof, tree_hash
from pel.ledger.merkle.tiles import (
    TILE_WIDTH,
    TileHashReader,
    encode_entry_bundle,
)
from pel.ledger.records.entries import Appended, PreparedRecord
from pel.ledger.storage.engine import check_database
from pel.ledger.storage.index_nodes import INDEX_NODES, SqlIndexNodes, write_index_nodes
from pel.ledger.storage.models import (
    CheckpointRow,
    CosignatureRow,
    EntryRow,
    LogStateRow,
    TileNodesRow,
    TileRow,
)
from pel.ledger.storage.sql_tiles import IN_CHUNK, SqlTileSource
from pel.ledger.storage.tilefile import TileNodeFile
from pel.ledger.tlog.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    open_checkpoint,
    sign_checkpoint,
)
from pel.ledger.tlog.cosignatures import CosignatureCheck
from pel.ledger.tlog.entry_check import (
    EntryRules,
    MapFn,
    StoredEntry,
    Target,
    check_rows,
    check_targets,
    serial_map,
)
from pel.ledger.tlog.index_check import IndexValues, check_index_nodes, rebuild_index_nodes
from pel.ledger.tlog.rebuild import TileRebuilder, compare_tiles

ENTRIES = EntryRow.__table__
TILES = TileRow.__table__
TILE_NODES = TileNodesRow.__table__
CHECKPOINTS = CheckpointRow.__table__
STATE = LogStateRow.__table__
COSIGNATURES = CosignatureRow.__table__

_MAX_HELD_LEAVES = 1 << 21  # leaf hashes kept for the integrator (64 MiB at most)
_MAX_INDEX_CACHE = 1 << 21  # index nodes kept by the integrator between checkpoints

log = logging.getLogger("pel.log")


class _LRU:
    """A small thread-safe LRU for immutable things (full tiles, full entry bundles)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[Any, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: bytes) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


@dataclass
class CheckReport:
    """What one check of the stored log covered (``Log.check_integrity``).

    Attributes:
        full: Whether every entry was read (else: state, pending entries, tiles).
        size: The latest checkpoint's tree size.
        pending: Entries sequenced but not integrated, each checked as a signed record
            of this log.
        entries: Entries whose columns were checked against their bytes.
        rehashed: Entries rehashed into tiles compared with the stored ones.
        signatures: Record signatures verified.
        index_nodes: Index nodes checked against the signed index root.
        database: What the database's own check said.
        tables: What was checked of the node's other tables (witness, mirrors, tokens …).
        repaired: What was found wrong and mended without loss.
    """

    full: bool = True
    size: int = 0
    pending: int = 0
    entries: int = 0
    rehashed: int = 0
    signatures: int = 0
    index_nodes: int = 0
    database: str = "not run"
    tables: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for a person: what was checked."""
        what = (
            f"{self.rehashed} entries rehashed, {self.entries} entries' columns checked, "
            f"{self.index_nodes} index nodes"
            if self.full
            else "stored tiles and index root checked against the checkpoint"
        )
        also = f"; {', '.join(self.tables)}" if self.tables else ""
        mended = f"; repaired: {', '.join(self.repaired)}" if self.repaired else ""
        return (
            f"{what}, {self.pending} pending and {self.signatures} signatures verified; "
            f"{self.database}{also}{mended}"
        )


def _same_record(stored: bytes, new: PreparedRecord) -> bool:
    if stored == new.entry:
        return True
    if not new.loose_time:
        return False
    # The node filled in issued_at (and so signed anew): compare all else.
    a, b = json.loads(stored), json.loads(new.entry)
    for d in (a, b):
        d.pop("sig", None)
        d.pop("issued_at", None)
    return bool(a == b)


def _withdrawal_problem(rec: PreparedRecord, agreement_entry: bytes) -> RecordError | None:
    """Why a withdrawal cannot name the record stored as ``agreement_entry``, or None."""
    from pel.ledger.portability.agreements import check_withdrawal

    try:
        check_withdrawal(json.loads(rec.entry), json.loads(agreement_entry))
    except RecordError as exc:
        return exc
    return None


class _NoIndexNodes:
    """An empty index: where it is built anew from the first entry."""

    def read_nodes(self, paths: Sequence[IndexPath]) -> dict[IndexPath, Node]:
        return {}


class _CachedIndexNodes:
    """The integrator's view of the latest index: nodes read once stay here (and the
    nodes each checkpoint writes replace theirs), so a batch reads only what it has not
    seen; ``None`` marks a path known to be empty. A ``complete`` cache holds every node
    of the tree (it was built here from the empty tree): a path it lacks is empty,
    without a read. Each node read from storage is checked first against its parent,
    already here, and the root against the signed ``root``: the next checkpoint's index
    root is never computed from a stored node that was changed."""

    def __init__(
        self,
        cache: dict[IndexPath, Node | None],
        stored: Any,
        *,
        complete: bool,
        root: bytes | None = None,
    ) -> None:
        self._cache = cache
        self._stored = stored
        self._complete = complete
        self._root = root

    def read_nodes(self, paths: Sequence[IndexPath]) -> dict[IndexPath, Node]:
        cache = self._cache
        if self._complete:
            return {p: n for p in paths if (n := cache.get(p)) is not None}
        missing = [p for p in paths if p not in cache]
        if missing:
            found = self._stored.read_nodes(missing)
            if self._root is not None:
                try:
                    check_read(found, missing, cache, self._root)
                except IndexTreeError as exc:
                    raise DamagedLogError(
                        f"{exc.message}; run `pel check --repair`", code="index_nodes_damaged"
                    ) from None
            for p in missing:
                cache[p] = found.get(p)
        return {p: n for p in paths if (n := cache[p]) is not None}


class Log:
    """A log stored in one database.

    Args:
        engine: The database (schema created by ``create_schema``).
        log_key: The verifier of the log's checkpoint key (its name is the origin).
        signer: The log's checkpoint signer; needed only to integrate.
        index: Keep the verifiable index of PWIDs to log indexes and commit its root in
            every checkpoint (an extension line, ``docs/completeness.md``).
    """

    def __init__(
        self,
        engine: Engine,
        log_key: NoteVerifier,
        *,
        signer: NoteSigner | None = None,
        index: bool = True,
    ) -> None:
        self.engine = engine
        self.index = index
        self._index_cache: dict[IndexPath, Node | None] = {}
        self._index_cache_size = -1
        self._index_cache_complete = False
        self.log_key = log_key
        # Keys the log signed with before a rotation: its older checkpoints stay valid.
        self.retired_keys: tuple[NoteVerifier, ...] = ()
        self.origin = log_key.name
        self._signer = signer
        # One writer at a time in this process: SQLite would otherwise make the
        # losers sleep in its busy handler, which costs far more than waiting here.
        self._write_lock = threading.Lock()
        # One integration at a time in this process (it runs outside the write lock).
        self._integrate_lock = threading.Lock()
        self._builder: TreeBuilder | None = None
        self._tile_source = SqlTileSource(engine, self.origin, writer=signer is not None)
        self.hashes = TileHashReader(self._tile_source)
        self._tile_source.forget_views = self.hashes.clear
        self._full_tiles = _LRU(4096)
        self._full_bundles = _LRU(256)
        self._latest: SignedCheckpoint | None = None
        # Leaf hashes of entries this process committed and has not integrated yet:
        # (index of the first, hashes), contiguous; guarded by the write lock.
        self._leaves: tuple[int, list[bytes]] = (0, [])
        #: What every entry must be (set by the node): entries this process did not
        #: append are checked against it before a checkpoint covers them.
        self.rules: EntryRules | None = None
        #: How the checks spread their work (the node gives its thread pool's map).
        self.map_fn: MapFn = serial_map
        # Entries below this index were checked as records of this log by the start-up
        # check: the integrator need not verify them again.
        self._checked_to = 0
        # Set when integration found the stored log damaged: no record is taken after it.
        self._halted: DamagedLogError | None = None
        self._pwids: list[str] = []  # the PWIDs of those entries, beside their hashes
        #: The witness keys stored cosignature lines are checked with before they are
        #: served (the node sets them from its trust lists; ``ledger.tlog.cosignatures``).
        self.cosignatures = CosignatureCheck()

    @property
    def tile_file_path(self) -> Path | None:
        """The tile-node file beside a SQLite database (None: inner nodes are rows)."""
        return self._tile_source.file_path

    def tile_file(self) -> TileNodeFile | None:
        """The tile-node file, opened and checked against the database now rather than
        by the first proof that needs it; None if this log has none or cannot use it."""
        return self._tile_source.tile_file()

    # ---- state -------------------------------------------------------------------

    def state(self) -> tuple[int, int]:
        """``(next_index, tree_size)``: entries sequenced, entries in the latest checkpoint."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(STATE.c.id, STATE.c.next_index, STATE.c.tree_size)).all()
        if len(rows) != 1 or rows[0][0] != 1:
            raise DamagedLogError(
                f"the log_state table holds {len(rows)} rows; it must hold one (id 1)",
                code="log_state_mismatch",
            )
        return int(rows[0][1]), int(rows[0][2])

    def latest(self, *, refresh: bool = True) -> SignedCheckpoint | None:
        """The latest published checkpoint, verified against the log key; None when empty."""
        if self._latest is not None and not refresh:
            return self._latest
        with self.engine.connect() as conn:
            note = conn.execute(
                select(CHECKPOINTS.c.note).order_by(CHECKPOINTS.c.size.desc()).limit(1)
            ).scalar()
        if note is None:
            return None
        if self._latest is None or self._latest.note != bytes(note):
            self._latest = self.open_own(bytes(note))
        return self._latest

    def open_own(self, note: bytes) -> SignedCheckpoint:
        """Open one of this log's checkpoints: signed by its key, or by a retired one.

        Raises:
            CheckpointError: signed by none of them.
        """
        try:
            return open_checkpoint(note, self.log_key)
        except CheckpointError:
            for key in self.retired_keys:
                try:
                    return open_checkpoint(note, key)
                except CheckpointError:
                    continue
            raise

    def use_key(self, signer: NoteSigner, retired: tuple[NoteVerifier, ...]) -> None:
        """Sign the next checkpoints with ``signer`` (a rotated log key)."""
        self.retired_keys = retired
        self.log_key = signer.verifier
        self._signer = signer

    def tree_size(self) -> int:
        latest = self.latest()
        return latest.checkpoint.size if latest else 0

    def _size_covering(self, need: int) -> int:
        """The tree size, read from the database only when the one known here is below
        ``need``: sizes only grow, so a known size that covers ``need`` is still true."""
        latest = self._latest
        if latest is None or latest.checkpoint.size < need:
            latest = self.latest()
        return latest.checkpoint.size if latest else 0

    def add_cosignatures(self, size: int, signatures: Sequence[NoteSignature]) -> None:
        """Keep witnesses' cosignatures (already verified by the caller) of checkpoint ``size``."""
        if not signatures:
            return
        # A witness cosigns with two keys under one name: the row is per key.
        rows = [
            {"size": size, "witness": f"{s.name}+{s.key_id.hex()}", "line": s.line().encode()}
            for s in signatures
        ]
        with self.engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(dialect.insert(COSIGNATURES).on_conflict_do_nothing(), rows)

    def cosigned_note(self, size: int) -> bytes:
        """The checkpoint at ``size`` with every cosignature collected for it that verifies
        (:attr:`cosignatures`)."""
        note = self.checkpoint_note(size)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(COSIGNATURES.c.witness, COSIGNATURES.c.line)
                .where(COSIGNATURES.c.size == size)
                .order_by(COSIGNATURES.c.witness)
            ).all()
        lines = self.cosignatures.served(size, note, [(str(w), bytes(x)) for w, x in rows])
        return note + b"".join(lines)

    def checkpoint_note(self, size: int) -> bytes:
        """The signed checkpoint the log published at ``size``."""
        with self.engine.connect() as conn:
            note = conn.execute(
                select(CHECKPOINTS.c.note).where(CHECKPOINTS.c.size == size)
            ).scalar()
        if note is None:
            raise NotFoundError(f"the log published no checkpoint at size {size}")
        return bytes(note)

    # ---- write path --------------------------------------------------------------

    def append(self, records: Sequence[PreparedRecord]) -> list[Appended]:
        """Append records in one transaction and return where each one is.

        A record whose ``(issuer, id)`` is already in the log (or earlier in the
        batch) with the same content gets its existing index back; with other
        content the whole batch is refused (:class:`BatchError`, 409). Amendments
        and revocations must name a record of this log with the same pwid.
        """
        if not records:
            return []
        if self._halted is not None:
            raise DamagedLogError(
                f"this node takes no records: {self._halted.message}", code="log_halted"
            )
        with self._write_lock:
            results, first, leaves, pwids = self._append_locked(records)
            if leaves:
                self._remember_leaves(first, leaves, pwids)
        return results

    def _append_locked(
        self, records: Sequence[PreparedRecord]
    ) -> tuple[list[Appended], int, list[bytes], list[str]]:
        """:meth:`append`'s transaction; also the first new index, the new leaf hashes and
        the new entries' PWIDs."""
        with self.engine.begin() as conn:
            # Touching the state row takes the log's write lock on SQLite and PostgreSQL.
            next_index = int(
                conn.execute(
                    update(STATE)
                    .where(STATE.c.id == 1)
                    .values(next_index=STATE.c.next_index)
                    .returning(STATE.c.next_index)
                ).scalar_one()
            )
            wanted = {r.record_id for r in records} | {r.target for r in records if r.target}
            known = self._lookup(conn, wanted)
            results: list[Appended] = []
            rows: list[tuple[int, str, str, str, bytes]] = []
            leaves: list[bytes] = []
            pwids: list[str] = []
            problems: list[tuple[int, LedgerError]] = []
            for pos, rec in enumerate(records):
                prior = known.get(rec.record_id)
                if prior is not None:
                    idx, _subject, data = prior
                    if _same_record(data, rec):
                        results.append(Appended(idx, hash_leaf(data), rec.record_id, True))
                    else:
                        problems.append(
                            (
                                pos,
                                ConflictError(
                                    f"record id {rec.record_id!r} is already in the log "
                                    f"(index {idx}) with different content"
                                ),
                            )
                        )
                    continue
                if rec.target is not None:
                    target = known.get(rec.target)
                    if target is None:
                        problems.append(
                            (
                                pos,
                                RecordError(
                                    f"{rec.type} names record {rec.target!r}, "
                                    "which is not in this log",
                                    code="unknown_target",
                                    field="body.target.id",
                                ),
                            )
                        )
                        continue
                    if target[1] != rec.pwid:
                        problems.append(
                            (
                                pos,
                                RecordError(
                                    f"{rec.type} pwid differs from the pwid of {rec.target!r}",
                                    code="pwid_mismatch",
                                    field="pwid",
                                ),
                            )
                        )
                        continue
                    if rec.type == "withdrawal":
                        problem = _withdrawal_problem(rec, target[2])
                        if problem is not None:
                            problems.append((pos, problem))
                            continue
                idx = next_index + len(rows)
                rows.append((idx, rec.record_id, rec.pwid, rec.type, rec.entry))
                leaves.append(rec.leaf_hash)
                pwids.append(rec.pwid)
                known[rec.record_id] = (idx, rec.pwid, rec.entry)
                results.append(Appended(idx, rec.leaf_hash, rec.record_id))
            if problems:
                raise BatchError(problems)
            if rows:
                try:
                    self._insert_entries(conn, rows)
                except SqlIntegrityError:
                    # Indexes are assigned under the write lock from next_index: a row
                    # already there means the counters no longer describe the entries.
                    raise DamagedLogError(
                        f"an entry already holds an index from {next_index} on, which the "
                        "log state says is free; run `pel check`",
                        code="log_state_mismatch",
                    ) from None
                conn.execute(
                    update(STATE).where(STATE.c.id == 1).values(next_index=next_index + len(rows))
                )
        return results, next_index, leaves, pwids

    def _remember_leaves(self, first: int, leaves: list[bytes], pwids: list[str]) -> None:
        """Keep the leaf hashes (and PWIDs) of entries just committed at ``first``…, so
        that :meth:`integrate` need not read those entries back and hash them again."""
        if self._signer is None:
            return  # this process never integrates
        start, held = self._leaves
        if first != start + len(held) or len(held) > _MAX_HELD_LEAVES:
            start, held, self._pwids = first, [], []  # another writer, or a stalled integrator
        held.extend(leaves)
        self._pwids.extend(pwids)
        self._leaves = (start, held)

    def _held_leaves(self, old: int, new: int) -> list[bytes] | None:
        """The leaf hashes of entries ``old`` ≤ index < ``new`` if this process appended
        them all since the last integration; None otherwise."""
        start, held = self._leaves
        if start <= old and new <= start + len(held):
            return held[old - start : new - start]
        return None

    def _held_pwids(self, old: int, new: int) -> list[str] | None:
        """The PWIDs of entries ``old`` ≤ index < ``new``, as :meth:`_held_leaves`."""
        start, held = self._leaves
        if start <= old and new <= start + len(held) == start + len(self._pwids):
            return self._pwids[old - start : new - start]
        return None

    def _forget_leaves(self, size: int) -> None:
        start, held = self._leaves
        if size >= start + len(held):
            self._leaves, self._pwids = (size, []), []
        elif size > start:
            self._leaves = (size, held[size - start :])
            self._pwids = self._pwids[size - start :]

    @staticmethod
    def _insert_entries(conn: Any, rows: list[tuple[int, str, str, str, bytes]]) -> None:
        # A plain DB-API executemany of one prepared statement: SQLAlchemy's per-row
        # parameter processing would cost more than SQLite's own work here.
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO {ENTRIES.name} (idx, record_id, pwid, type, data) "
            f"VALUES ({', '.join([mark] * 5)})"
        )
        conn.exec_driver_sql(sql, rows)

    @staticmethod
    def _lookup(conn: Any, record_ids: Iterable[str]) -> dict[str, tuple[int, str, bytes]]:
        ids = list(record_ids)
        out: dict[str, tuple[int, str, bytes]] = {}
        # Plain DB-API statements, as for the insert: SQLAlchemy would compile an
        # expanding IN clause for every batch.
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        for i in range(0, len(ids), IN_CHUNK):
            chunk = ids[i : i + IN_CHUNK]
            rows = conn.exec_driver_sql(
                f"SELECT record_id, idx, pwid, data FROM {ENTRIES.name} "
                f"WHERE record_id IN ({', '.join([mark] * len(chunk))})",
                tuple(chunk),
            )
            for rid, idx, pwid, data in rows:
                out[rid] = (int(idx), pwid, bytes(data))
        return out

    def integrate(
        self, *, max_entries: int = 1 << 20, now: dt.datetime | None = None
    ) -> SignedCheckpoint | None:
        """Extend the tree over sequenced entries and publish a signed checkpoint.

        Returns the new checkpoint, or None when there was nothing new.

        Raises:
            ConflictError: another integrator published first (state is reloaded).
        """
        if self._signer is None:
            raise LedgerError("this log has no checkpoint signer: it cannot integrate")
        with self._integrate_lock:
            try:
                # The work (tiles, index, signature) is done before the write transaction
                # and outside the write lock, so appends go on meanwhile: it reads only
                # what no append changes (entries below next_index, the tiles and index
                # nodes as of ``old``), and the compare-and-swap below refuses the result
                # if another process published first.
                with self.engine.connect() as conn:
                    with self._write_lock:  # the state and the held leaves of one moment
                        next_index, old = conn.execute(
                            select(STATE.c.next_index, STATE.c.tree_size)
                        ).one()
                        old = int(old)
                        new = min(int(next_index), old + max_entries)
                        leaves = self._held_leaves(old, new)
                        pwids = self._held_pwids(old, new)
                    if new == old:
                        return None
                    builder = self._builder_at(conn, old)
                    if leaves is None:
                        leaves = self._stored_leaves(conn, old, new)
                    builder.append(leaves)
                    tiles, nodes = builder.take_changed(), builder.take_nodes()
                    slots: dict[int, bytes] = {}
                    if self._tile_source.keeps_file:
                        slots = {i: tiles[(lv, i)] + n for (lv, i), n in nodes.items() if lv == 0}
                        nodes = {key: n for key, n in nodes.items() if key[0] != 0}
                    extensions: tuple[str, ...] = ()
                    index_nodes: dict[IndexPath, Node] = {}
                    if self.index:
                        index_root, index_nodes = self._update_index(conn, old, new, pwids)
                        extensions = (extension_line(index_root),)
                    checkpoint = Checkpoint(self.origin, new, builder.root(), extensions)
                    note = sign_checkpoint(checkpoint, self._signer)
                with self._write_lock, self.engine.begin() as conn:
                    self._upsert_tiles(conn, TILES, tiles)
                    self._upsert_tiles(conn, TILE_NODES, nodes)
                    write_index_nodes(conn, new, index_nodes)
                    conn.execute(
                        CHECKPOINTS.insert().values(
                            size=new,
                            root=checkpoint.root,
                            note=note,
                            published_at=now or dt.datetime.now(dt.UTC),
                        )
                    )
                    swapped = conn.execute(
                        update(STATE)
                        .where(STATE.c.id == 1, STATE.c.tree_size == old)
                        .values(tree_size=new)
                    ).rowcount
                    if swapped != 1:
                        raise ConflictError("another integrator published a checkpoint first")
            except DamagedLogError as exc:
                self._builder = None
                self._halted = exc
                raise
            except BaseException:
                self._builder = None
                self._index_cache, self._index_cache_size = {}, -1
                self._index_cache_complete = False
                raise
            if self.index:
                self._index_cache.update(index_nodes)
                self._index_cache_size = new
            with self._write_lock:
                self._forget_leaves(new)
        self._latest = SignedCheckpoint(checkpoint, note)
        # After the write lock: appends need not wait on the file (nor on its sync, once a
        # second). Integrations that store out of order leave a gap, mended from the
        # database by the next one.
        self._tile_source.store_full_tiles(slots)
        return self._latest

    def _stored_leaves(self, conn: Any, old: int, new: int) -> list[bytes]:
        """The leaf hashes of entries ``old`` ≤ index < ``new`` as stored, each checked
        first as a signed record of this log unless the start-up check did (entries
        this process did not append: another writer's, or those of a run before).

        Raises:
            DamagedLogError: a missing entry, or one that is not a record of this log.
        """
        rows = self._read_rows(conn, old, new)
        if len(rows) != new - old:
            raise DamagedLogError(
                f"entries {old}..{new - 1} are not all stored, though the log state says "
                "they were sequenced",
                code="log_state_mismatch",
            )
        unchecked = [r for r in rows if r[0] >= self._checked_to]
        if unchecked and self.rules is not None:
            self._check_targets(
                conn,
                check_rows(
                    unchecked,
                    agency=self.rules.agency,
                    rules=self.rules,
                    signed_from=0,
                    map_fn=self.map_fn,
                ),
            )
        return [hash_leaf(r[4]) for r in rows]

    @staticmethod
    def _read_rows(conn: Any, start: int, end: int) -> list[StoredEntry]:
        # A plain DB-API statement: SQLAlchemy's row processing would cost more than the
        # check of each row.
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(
                f"SELECT idx, record_id, pwid, type, data FROM {ENTRIES.name} "
                f"WHERE idx >= {mark} AND idx < {mark} ORDER BY idx",
                (start, end),
            )
            rows: list[StoredEntry] = cursor.fetchall()  # entries as bytes on both drivers
            return rows
        finally:
            cursor.close()

    def _check_targets(self, conn: Any, targets: list[Target]) -> None:
        """Each target an earlier record of the same worker (:func:`check_targets`)."""
        if not targets:
            return
        known = self._lookup(conn, {t[1] for t in targets})
        check_targets(targets, {rid: (idx, pwid) for rid, (idx, pwid, _) in known.items()})

    # ---- the verifiable index ------------------------------------------------------

    def _update_index(
        self, conn: Any, old: int, new: int, held: list[str] | None = None
    ) -> tuple[bytes, dict[IndexPath, Node]]:
        """The index root at ``new`` and the nodes that change from ``old`` (``held``: the
        PWIDs of entries ``old`` … ``new - 1``, when this process appended them).

        A log whose checkpoint at ``old`` commits to no index (written before the index
        was kept, or while it was off) is indexed anew from its first entry, over an
        empty tree: every node of the new tree is written at ``new``, and since the new
        tree holds every key any earlier one held, it has a node at every path an
        earlier index stored, so no stale row is ever read at a later size."""
        start = old
        if old > 0 and self._index_root_at(conn, old) is None:
            start = 0
        stale = start != old or self._index_cache_size != old
        if stale or len(self._index_cache) > _MAX_INDEX_CACHE:
            self._index_cache = {}
            # Built from the empty tree here, the cache holds every node of it.
            self._index_cache_complete = start == 0
        self._index_cache_size = -1  # until this integration commits
        lists: dict[str, list[int]] = {}
        for idx, pwid in self._index_entries(conn, start, new, held if start == old else None):
            lists.setdefault(pwid, []).append(idx)
        # A worker's records come in runs: one key hash per PWID, not per record.
        appended = {key_of(pwid): indexes for pwid, indexes in lists.items()}
        stored: Any = SqlIndexNodes(conn, old) if start == old else _NoIndexNodes()
        reader = _CachedIndexNodes(
            self._index_cache,
            stored,
            complete=self._index_cache_complete,
            root=self._index_root_at(conn, old) if start == old and old > 0 else None,
        )
        result = update_index(reader, appended)
        return result.root, result.nodes

    def _index_entries(
        self, conn: Any, start: int, end: int, held: list[str] | None = None
    ) -> list[tuple[int, str]]:
        """``(index, pwid)`` of the entries ``start`` ≤ index < ``end``, in order (from
        ``held``, their PWIDs as this process appended them, else read back)."""
        if held is not None:
            return list(enumerate(held, start))
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        rows = conn.exec_driver_sql(
            f"SELECT idx, pwid FROM {ENTRIES.name} WHERE idx >= {mark} AND idx < {mark} "
            "ORDER BY idx",
            (start, end),
        ).all()
        if len(rows) != end - start:
            raise IntegrityError(f"entries {start}..{end - 1} are not contiguous")
        return [(int(i), str(p)) for i, p in rows]

    def _index_root_at(self, conn: Any, size: int) -> bytes | None:
        latest = self._latest
        if latest is not None and latest.checkpoint.size == size:
            return parse_extension(latest.checkpoint.extensions)
        note = conn.execute(select(CHECKPOINTS.c.note).where(CHECKPOINTS.c.size == size)).scalar()
        if note is None:
            raise IntegrityError(f"no checkpoint at size {size}")
        return parse_extension(open_checkpoint(bytes(note), self.log_key).checkpoint.extensions)

    def index_root(self, size: int) -> bytes:
        """The index root committed by the checkpoint at ``size``.

        Raises:
            NotFoundError: no checkpoint at that size, or it commits to no index.
        """
        cp = open_checkpoint(self.checkpoint_note(size), self.log_key).checkpoint
        root = parse_extension(cp.extensions)
        if root is None:
            raise NotFoundError(
                f"the checkpoint at size {size} commits to no index", code="no_index"
            )
        return root

    def index_proof(self, pwid: str, size: int) -> IndexProof:
        """The complete list of ``pwid``'s indexes below ``size``, with its proof against
        the index root of the checkpoint at ``size`` (an empty list proves absence).

        Raises:
            NotFoundError: no checkpoint at ``size``, or it commits to no index.
            IntegrityError: the stored index disagrees with the stored entries.
        """
        root = self.index_root(size)
        with self.engine.connect() as conn:
            indexes = self._pwid_indexes(conn, pwid, size)
            lookup = prove(SqlIndexNodes(conn, size), key_of(pwid))
        stored = lookup.value if lookup.value is not None else None
        if (stored or None) != (value_hash(indexes) if indexes else None):
            raise IntegrityError(
                f"the index at size {size} disagrees with the stored entries of a PWID"
            )
        proof = IndexProof.from_lookup(size, indexes, lookup)
        # Checked before it is served: an older tree's nodes are not read at start-up.
        try:
            verify_index_proof(proof, pwid, root)
        except ProofError:
            raise IntegrityError(
                f"the stored index at size {size} does not reproduce its signed root; "
                "run `pel check`"
            ) from None
        return proof

    def _pwid_indexes(self, conn: Any, pwid: str, size: int) -> list[int]:
        """The indexes of ``pwid``'s entries below ``size``, ascending."""
        return [
            int(i)
            for i in conn.execute(
                select(ENTRIES.c.idx)
                .where(ENTRIES.c.pwid == pwid, ENTRIES.c.idx < size)
                .order_by(ENTRIES.c.idx)
            ).scalars()
        ]

    def _builder_at(self, conn: Any, size: int) -> TreeBuilder:
        if self._builder is not None and self._builder.size == size:
            return self._builder
        edge = edge_of(
            size,
            lambda level, index: conn.execute(
                select(TILES.c.data).where(TILES.c.level == level, TILES.c.idx == index)
            ).scalar(),
        )
        self._builder = TreeBuilder(size, edge, keep_nodes=True)
        return self._builder

    @staticmethod
    def _upsert_tiles(conn: Any, table: Any, tiles: dict[tuple[int, int], bytes]) -> None:
        """Write ``tiles`` (or their inner nodes) into ``table``, replacing shorter ones."""
        if not tiles:
            return
        rows = [{"level": lv, "idx": i, "data": d} for (lv, i), d in sorted(tiles.items())]
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.level, table.c.idx], set_={"data": stmt.excluded.data}
        )
        conn.execute(stmt, rows)

    # ---- read path ---------------------------------------------------------------

    def _covered(self, level: int, size: int) -> int:
        """How many level-``level`` tile hashes a tree of ``size`` has."""
        return size >> (8 * level)

    def tile(self, level: int, index: int, width: int | None = None) -> bytes:
        """A Merkle tile as C2SP tlog-tiles serves it (``width`` None: the full tile)."""
        if not 0 <= level <= 63:
            raise NotFoundError(f"tile level {level} is out of range")
        want = width or TILE_WIDTH
        need = (index * TILE_WIDTH + want) << (8 * level)
        if (index * TILE_WIDTH + want) > self._covered(level, self._size_covering(need)):
            raise NotFoundError(f"tile {level}/{index} width {want} is beyond the checkpoint")
        if width is None:
            cached = self._full_tiles.get((level, index))
            if cached is not None:
                return cached
        data = self._tile_source.read_tiles([(level, index)])[0]
        if len(data) < want * 32:
            raise IntegrityError(f"stored tile {level}/{index} is shorter than the checkpoint says")
        if width is None:
            self._full_tiles.put((level, index), data)
        return data[: want * 32]

    def entry_bundle(self, index: int, width: int | None = None) -> bytes:
        """An entry bundle (big-endian uint16 length-prefixed entries), C2SP tlog-tiles."""
        want = width or TILE_WIDTH
        start = index * TILE_WIDTH
        if start + want > self._size_covering(start + want):
            raise NotFoundError(f"entry bundle {index} width {want} is beyond the checkpoint")
        if width is None:
            cached = self._full_bundles.get(index)
            if cached is not None:
                return cached
        entries = self.entries(start, start + want)
        bundle = encode_entry_bundle(entries)
        if width is None:
            self._full_bundles.put(index, bundle)
        return bundle

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries ``start`` ≤ index < ``end`` (all must exist)."""
        data = self._tile_source.read_entries(start, end)
        if len(data) != end - start:
            raise IntegrityError(f"entries {start}..{end - 1} are not all stored")
        return data

    def entry(self, index: int) -> bytes:
        """One entry by index (sequenced entries, integrated or not yet)."""
        with self.engine.connect() as conn:
            data = conn.execute(select(ENTRIES.c.data).where(ENTRIES.c.idx == index)).scalar()
        if data is None:
            raise NotFoundError(f"no entry at index {index}")
        return bytes(data)

    def find(self, record_id: str) -> tuple[int, bytes]:
        """``(index, entry)`` of the record with this id."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ENTRIES.c.idx, ENTRIES.c.data).where(ENTRIES.c.record_id == record_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no record with id {record_id!r} in this log")
        return int(row[0]), bytes(row[1])

    def _check_size(self, size: int) -> None:
        current = self._size_covering(size)
        if not 0 < size <= current:
            raise NotFoundError(
                f"tree size {size} is not covered by a checkpoint (current size {current})"
            )

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``."""
        latest = self._latest
        if latest is None or not 0 < size <= latest.checkpoint.size:
            self._check_size(size)  # reads the latest checkpoint, or refuses the size
        if not 0 <= index < size:
            raise NotFoundError(f"index {index} is not in a tree of size {size}")
        return self.hashes.inclusion_proof(index, size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 consistency proof between tree sizes ``first`` and ``second``."""
        self._check_size(second)
        if not 0 < first <= second:
            raise NotFoundError(f"no consistency proof from size {first} to {second}")
        return consistency_proof(first, second, self.hashes)

    def root(self, size: int) -> bytes:
        """The root hash of the tree of ``size`` (≤ the checkpoint's), from stored tiles."""
        if size == 0:
            return EMPTY_ROOT
        self._check_size(size)
        return tree_hash(size, self.hashes)

    # ---- integrity ---------------------------------------------------------------

    def check_integrity(
        self,
        *,
        full: bool = True,
        progress: Callable[[int, int], None] | None = None,
        signatures: bool = False,
        repair: bool = False,
        report: CheckReport | None = None,
    ) -> Checkpoint | None:
        """Check that stored data reproduces the latest checkpoint and that every stored
        fact agrees with the entries; raise if not.

        Either way: the log state against the latest checkpoint and against the entries
        (``next_index`` entries, indexes 0 to ``next_index - 1``, none beyond), every
        entry not yet under a checkpoint as a signed record of this log (with
        :attr:`rules`), the stored tiles against the latest checkpoint's root, and every
        stored checkpoint against the tiles. ``full`` also runs the database's own check
        of its pages and indexes, rehashes every entry and rebuilds every tile (a changed
        byte anywhere is found), checks every entry's columns against its bytes, and the
        tile-node file's slots against the rebuilt tiles; ``signatures`` verifies every
        record's signature too (the signed root already fixes integrated entries' bytes).
        A tile-node file slot that differs from its rebuilt tile refuses the log, unless
        ``repair``: the file is then written again from the (checked) database.

        Raises:
            IntegrityError: what does not match, and where (:class:`DamagedLogError`
                with a narrower code for what the node can name).
        """
        report = report if report is not None else CheckReport()
        report.full = full
        try:
            latest = self.latest()
        except CheckpointError as exc:
            raise IntegrityError(f"latest checkpoint does not verify: {exc.message}") from None
        next_index, tree_size = self.state()
        size = latest.checkpoint.size if latest else 0
        report.size = size
        if size != tree_size:
            raise DamagedLogError(
                f"latest checkpoint is for size {size} but the log state says {tree_size}",
                code="log_state_mismatch",
            )
        if next_index < tree_size:
            raise DamagedLogError(
                f"log state is corrupt: next index {next_index} < {tree_size}",
                code="log_state_mismatch",
            )
        self._check_extent(next_index)
        self._check_tile_extent(size)
        self._tile_source.repair = repair
        values = IndexValues() if full else None
        if full:
            report.database = check_database(
                self.engine,
                [ENTRIES.name, TILES.name, TILE_NODES.name, CHECKPOINTS.name, INDEX_NODES.name],
            )
            self._rebuild_and_compare(size, next_index, progress, signatures, report, values)
        else:
            self._check_pending(size, next_index, report)
        self._checked_to = next_index
        roots: dict[int, bytes | None] = {}
        if latest is not None:
            got = tree_hash(size, TileHashReader(self._tile_source))
            if got != latest.checkpoint.root:
                raise IntegrityError("stored tiles do not reproduce the latest checkpoint's root")
            roots = self._check_checkpoint_roots()
        self._check_index(size, roots, values, repair, report)
        if latest is None:
            return None
        if full:
            report.repaired.extend(self._tile_source.mend_file(size))
        return latest.checkpoint

    def _check_index(
        self,
        size: int,
        roots: dict[int, bytes | None],
        values: IndexValues | None,
        repair: bool,
        report: CheckReport,
    ) -> None:
        """The stored index nodes against the signed index roots (``index_check``);
        rebuilt from the entries when they fail and ``repair`` is asked.

        Raises:
            DamagedLogError: ``index_nodes_damaged`` (not repaired), or
                ``index_root_mismatch`` (the entries do not give a signed root).
        """
        full = values is not None
        try:
            with self.engine.connect() as conn:
                report.index_nodes = check_index_nodes(
                    conn, size, roots, values.by_key() if values else None, full=full
                )
            return
        except IndexTreeError as exc:
            if not repair:
                raise DamagedLogError(
                    f"{exc.message}; `pel check --repair` rebuilds the index from the entries",
                    code="index_nodes_damaged",
                ) from None
        with self._write_lock, self.engine.begin() as conn:
            written = rebuild_index_nodes(
                conn, sorted(roots.items()), lambda a, b: self._index_entries(conn, a, b)
            )
        self._index_cache, self._index_cache_size = {}, -1
        self._index_cache_complete = False
        report.repaired.append(f"index nodes rebuilt from the entries ({written} rows)")

    def _check_extent(self, next_index: int) -> None:
        """The entries are exactly indexes 0 … ``next_index - 1``, as the state says."""
        with self.engine.connect() as conn:
            count, low, high = conn.execute(
                select(func.count(), func.min(ENTRIES.c.idx), func.max(ENTRIES.c.idx))
            ).one()
        if count == next_index and (count == 0 or (low == 0 and high == next_index - 1)):
            return
        held = f"indexes {low}..{high}" if count else "none"
        raise DamagedLogError(
            f"the log state says {next_index} entries were sequenced, but {count} are "
            f"stored ({held})",
            code="log_state_mismatch",
        )

    def _check_tile_extent(self, size: int) -> None:
        """Stored tiles and inner nodes are exactly those of a tree of ``size``: each
        level's tiles numbered from 0, none beyond (a stray row would be taken up by a
        later integration as it stands)."""
        with self.engine.connect() as conn:
            for table in (TILES, TILE_NODES):
                rows = conn.execute(
                    select(
                        table.c.level, func.count(), func.min(table.c.idx), func.max(table.c.idx)
                    ).group_by(table.c.level)
                ).all()
                for level, count, low, high in rows:
                    hashes = size >> (8 * int(level))
                    tiles = (
                        hashes // TILE_WIDTH if table is TILE_NODES else -(-hashes // TILE_WIDTH)
                    )
                    bad = int(low) < 0 or int(high) >= tiles or int(level) < 0
                    if table is TILES:  # every tile of the tree is stored
                        bad = bad or int(count) != tiles
                    if bad:
                        raise DamagedLogError(
                            f"the {table.name} table holds rows {level}/{low}..{high} ({count}), "
                            f"but a tree of {size} entries has {tiles} at level {level}",
                            code="log_state_mismatch",
                        )
                if table is TILES:
                    levels = {int(r[0]) for r in rows}
                    want = {lv for lv in range(64) if size >> (8 * lv)}
                    if levels != want:
                        raise DamagedLogError(
                            f"the tiles table holds levels {sorted(levels)}, but a tree of "
                            f"{size} entries has levels {sorted(want)}",
                            code="log_state_mismatch",
                        )

    def _check_pending(self, size: int, next_index: int, report: CheckReport) -> None:
        """Entries not under a checkpoint, checked as signed records of this log."""
        chunk = 64 * TILE_WIDTH
        with self.engine.connect() as conn:
            for start in range(size, next_index, chunk):
                rows = self._read_rows(conn, start, min(next_index, start + chunk))
                self._check_chunk(conn, rows, size, size, report)

    def _check_chunk(
        self,
        conn: Any,
        rows: list[StoredEntry],
        size: int,
        signed_from: int,
        report: CheckReport,
        fixed_below: int = 0,
    ) -> None:
        """Check ``rows`` (:func:`check_rows`), as signed records from ``signed_from`` on
        when the log has :attr:`rules`; count them into ``report``. Rows below
        ``fixed_below`` were just rehashed against the signed root."""
        rules = self.rules
        targets = check_rows(
            rows,
            agency=rules.agency if rules else None,
            rules=rules,
            signed_from=signed_from,
            fixed_below=fixed_below,
            map_fn=self.map_fn,
        )
        self._check_targets(conn, targets)
        report.pending += sum(1 for r in rows if r[0] >= size)
        report.entries += len(rows)
        if rules is not None:
            report.signatures += sum(1 for r in rows if r[0] >= signed_from)

    def _rebuild_and_compare(
        self,
        size: int,
        next_index: int,
        progress: Callable[[int, int], None] | None,
        signatures: bool,
        report: CheckReport,
        values: IndexValues | None = None,
    ) -> None:
        """One pass over every entry: rehash those under the checkpoint into tiles to
        compare with the stored ones, fold their PWIDs into each PWID's index list
        (``values``), and check every row's columns against its entry (as a signed
        record from ``size`` on, or everywhere with ``signatures``)."""
        rebuilt = TileRebuilder(keep_nodes=True)
        chunk = 64 * TILE_WIDTH
        with self.engine.connect() as conn:
            for start in range(0, next_index, chunk):
                end = min(next_index, start + chunk)
                rows = self._read_rows(conn, start, end)
                if [r[0] for r in rows] != list(range(start, end)):
                    raise DamagedLogError(
                        f"entries {start}..{end - 1} are missing or out of order",
                        code="log_state_mismatch",
                    )
                under = [r for r in rows if r[0] < size]
                if under:
                    tiles = rebuilt.add([hash_leaf(r[4]) for r in under])
                    self._compare_stored(tiles)
                    self._compare_nodes(tiles, rebuilt.take_nodes())
                    report.rehashed += len(under)
                    if values is not None:
                        values.add(under)
                    if rebuilt.size == size:  # before the rows are read as records
                        self._compare_stored(rebuilt.partial_tiles())
                self._check_chunk(
                    conn, rows, size, 0 if signatures else size, report, fixed_below=size
                )
                if progress:
                    progress(end, next_index)

    def _compare_stored(self, expected: dict[tuple[int, int], bytes]) -> None:
        if expected:
            compare_tiles(expected, self._tile_source.read_tiles(sorted(expected)), "stored")

    def _compare_nodes(
        self, tiles: dict[tuple[int, int], bytes], expected: dict[tuple[int, int], bytes]
    ) -> None:
        """Stored inner nodes (where kept: rows, and the tile-node file's slots) must be
        those rebuilt: proofs are read from them."""
        for coords, inner in self._tile_source.read_nodes(sorted(expected)).items():
            if inner != expected[coords]:
                level, index = coords
                raise IntegrityError(
                    f"stored inner nodes of tile {level}/{index} differ from its rebuilt tile"
                )
        for level, index in sorted(expected):
            slot = self._tile_source.read_slot(index) if level == 0 else None
            if slot is not None and slot != tiles[(0, index)] + expected[(0, index)]:
                # Only ever a copy of the database: written again after the check.
                self._tile_source.note_bad_slot(index)

    def _check_checkpoint_roots(self) -> dict[int, bytes | None]:
        """Every stored checkpoint against the tiles and its own signature; the index
        root each one commits to (None: none), by size."""
        roots: dict[int, bytes | None] = {}
        reader = TileHashReader(self._tile_source)
        with self.engine.connect() as conn:
            rows = conn.execute(select(CHECKPOINTS.c.size, CHECKPOINTS.c.root, CHECKPOINTS.c.note))
            for size, root, note in rows:
                if tree_hash(int(size), reader) != bytes(root):
                    raise IntegrityError(
                        f"checkpoint at size {size} disagrees with the stored tiles"
                    )
                try:
                    cp = self.open_own(bytes(note)).checkpoint
                except CheckpointError as exc:
                    raise IntegrityError(f"checkpoint at size {size}: {exc.message}") from None
                if cp.root != bytes(root) or cp.size != size:
                    raise IntegrityError(f"checkpoint note at size {size} disagrees with its row")
                try:
                    roots[int(size)] = parse_extension(cp.extensions)
                except ProofError as exc:
                    raise IntegrityError(f"checkpoint at size {size}: {exc.message}") from None
        return roots

    def warm_tiles(self, chunk: int = 512, budget: int | None = None) -> Iterator[int]:
        """Read the stored tiles and their stored inner nodes once, ``chunk`` tiles per
        short read, yielding the bytes read so far after each: what proofs read is then in
        the operating system's file cache (and PostgreSQL's buffers) rather than on disk.
        The integrator also writes the tile-node file's missing slots as it goes.
        The upper levels come first (every proof reads them), then level 0 from its start;
        the pass ends once ``budget`` bytes are read (None: no bound). Nothing read is
        kept in this process (one buffer is reused); the caller may stop between two
        reads."""
        with self.engine.connect() as conn:
            ends = conn.execute(
                select(TILES.c.level, func.max(TILES.c.idx)).group_by(TILES.c.level)
            ).all()
        done = 0
        for level, top in sorted(ends, reverse=True):
            for lo in range(0, int(top) + 1, chunk):
                for table in (TILES, TILE_NODES):  # a full tile's nodes share its index
                    done += self._tile_source.touch(table, int(level), lo, lo + chunk)
                if level == 0:
                    done += self._tile_source.warm_file(lo, lo + chunk)
                yield done
                if budget is not None and done >= budget:
                    return

    def close(self) -> None:
        """Give back the connection kept for reading tiles, and sync and close the
        tile-node file (the engine stays open; a later read opens and checks them again)."""
        self._tile_source.close()

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ENTRIES)).scalar_one())

    # ---- a worker's records --------------------------------------------------------

    def pwid_entries(self, pwid: str) -> list[tuple[int, bytes]]:
        """``(index, entry)`` of every sequenced record of ``pwid``, in log order
        (integrated or not yet: compare with a checkpoint's size)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ENTRIES.c.idx, ENTRIES.c.data)
                .where(ENTRIES.c.pwid == pwid)
                .order_by(ENTRIES.c.idx)
            ).all()
        return [(int(i), bytes(d)) for i, d in rows]

    def cosigned_sizes(self, at_least: int) -> list[int]:
        """Checkpoint sizes holding at least ``at_least`` stored cosignature lines (a
        witness may have several), newest first.

        Stored lines were checked when collected; a caller still verifies the ones
        it uses against the trust list it holds now.
        """
        with self.engine.connect() as conn:
            return [
                int(s)
                for s in conn.execute(
                    select(COSIGNATURES.c.size)
                    .group_by(COSIGNATURES.c.size)
                    .having(func.count() >= at_least)
                    .order_by(COSIGNATURES.c.size.desc())
                ).scalars()
            ]
