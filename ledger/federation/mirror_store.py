"""Verified copies of the other members' logs (the storing side of C2SP tlog-mirror).

A node mirrors every other member's log in its own database and serves the copy in
the tlog-tiles layout. Following tlog-mirror, each mirrored log has a *mirror
checkpoint* (every entry stored and checked; the only size served) and a *pending
checkpoint* (a newer signed checkpoint shown consistent with it, whose entries are
being fetched). The copy moves in three kinds of step, each one transaction:

1. :meth:`MirrorStore.update_checkpoint` takes a signed checkpoint of the log. It
   must carry the log key's signature; it becomes pending only if a prefix proof,
   read from the log's own tiles, shows the mirror checkpoint's root inside it.
2. :meth:`MirrorStore.add_entries` takes the next entries. Every record must be
   canonical JSON, issued by the agency that owns the log and signed with the key
   the trust list gives it; the tree rebuilt from the stored edge and the new leaf
   hashes must be a prefix of the pending checkpoint (again by prefix proof), so
   what is stored is verified even when a catch-up stops half-way. Bounded batches
   make catch-up resumable from whatever was stored.
3. When the entries reach the pending size, the rebuilt root must equal the signed
   one, and the pending checkpoint becomes the mirror checkpoint.

The newest mirror checkpoint that carried the trust list's witness quorum is kept
besides (:meth:`MirrorStore.witnessed`): a worker's bundle proves mirrored records
against it while a newer mirror checkpoint still waits for its cosignatures.

Two signed checkpoints that cannot both be true (another root for a size the
mirror knows, or a prefix proof showing another root for the mirror's size) are
recorded as :class:`~ledger.evidence.ForkEvidence` in the table the witness uses;
the log is then flagged and neither mirrored nor cosigned any more.

The Merkle hashes of the log being followed are read through a ``HashReader`` the
caller gives (over the network, in node/), so this module does no I/O but SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from pel.crypto.errors import CryptoError
from pel.crypto.note import add_signatures, parse_note
from pel.ledger.errors import (
    CheckpointError,
    IntegrityError,
    MirrorError,
    NotFoundError,
    ProofError,
)
from pel.ledger.federation.evidence import ForkEvidence, fork_between
from pel.ledger.federation.mirror_entry_check import (
    MirroredLog,
    RecordMeta,
    check_entries,
)
from pel.ledger.federation.witness import flagged_origins, record_evidence
from pel.ledger.merkle.builder import TreeBuilder, edge_of
from pel.ledger.merkle.hashing import EMPTY_ROOT, hash_leaf
from pel.ledger.merkle.proof import (
    HashReader,
    consistency_proof,
    inclusion_proof,
    prefix_proof,
    prefix_root,
    tree_hash,
)
from pel.ledger.merkle.tiles import TILE_WIDTH, TileHashReader, encode_entry_bundle
from pel.ledger.storage.models import (
    MirrorEntryRow,
    MirrorStateRow,
    MirrorTileRow,
    MirrorWitnessedRow,
)
from pel.ledger.tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint

STATE = MirrorStateRow.__table__  # type: ignore[attr-defined]
ENTRIES = MirrorEntryRow.__table__  # type: ignore[attr-defined]
TILES = MirrorTileRow.__table__  # type: ignore[attr-defined]
WITNESSED = MirrorWitnessedRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MirrorState:
    """One mirrored log: the mirror checkpoint, the pending one, and the entries stored."""

    origin: str
    agency: str
    size: int
    root: bytes
    note: bytes | None
    next_index: int
    pending: bytes | None
    verified_at: dt.datetime | None

    @property
    def pending_checkpoint(self) -> Checkpoint | None:
        return None if self.pending is None else _body(self.pending)

    @property
    def pending_size(self) -> int:
        cp = self.pending_checkpoint
        return cp.size if cp else self.size


def _body(note: bytes) -> Checkpoint:
    return Checkpoint.parse(note.split(b"\n\n", 1)[0] + b"\n")


def mirror_prefix(origin: str) -> str:
    """C2SP tlog-mirror's name for a mirrored log: the lowercase hex SHA-256 of its origin."""
    return hashlib.sha256(origin.encode()).hexdigest()


class _MirrorTiles:
    """``read_tiles`` over one origin's stored tiles (a ``TileSource``)."""

    def __init__(self, engine: Engine, origin: str) -> None:
        self.engine = engine
        self.origin = origin

    def read_tile(self, level: int, index: int) -> bytes | None:
        with self.engine.connect() as conn:
            data = conn.execute(
                select(TILES.c.data).where(
                    TILES.c.origin == self.origin, TILES.c.level == level, TILES.c.idx == index
                )
            ).scalar()
        return None if data is None else bytes(data)

    def read_tiles(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        for level, index in coords:
            data = self.read_tile(level, index)
            if data is None:
                raise IntegrityError(f"mirror of {self.origin}: tile {level}/{index} missing")
            out.append(data)
        return out


class MirrorStore:
    """The mirrored logs in one database: verified updates, and the tlog-tiles reads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readers: dict[str, TileHashReader] = {}

    # ---- state -------------------------------------------------------------------

    def state(self, origin: str) -> MirrorState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(STATE).where(STATE.c.origin == origin)).first()
        return None if row is None else _state(row)

    def states(self) -> list[MirrorState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(STATE).order_by(STATE.c.origin)).all()
        return [_state(r) for r in rows]

    def origin_named(self, name: str) -> str:
        """The origin a mirror path names: ``name`` itself, or the origin of the mirrored
        log whose :func:`mirror_prefix` it is."""
        if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
            for st in self.states():
                if mirror_prefix(st.origin) == name:
                    return st.origin
        return name

    def flagged(self) -> set[str]:
        """Origins with a proven fork on record (the witness's evidence table)."""
        return flagged_origins(self.engine)

    def hashes(self, origin: str) -> HashReader:
        """The stored tiles of a mirrored log as a hash reader (for proofs)."""
        reader = self._readers.get(origin)
        if reader is None:
            reader = self._readers[origin] = TileHashReader(_MirrorTiles(self.engine, origin))
        return reader

    # ---- verified updates --------------------------------------------------------

    def update_checkpoint(self, log: MirroredLog, note: bytes, remote: HashReader) -> str:
        """Take a signed checkpoint of ``log`` (with any cosignatures) from the log itself.

        ``remote`` reads the log's Merkle hashes at the checkpoint's size (its tiles);
        they are trusted only as far as the proofs built from them lead to signed roots.

        Returns:
            ``"pending"`` (a newer checkpoint to fetch entries for), ``"same"`` (no
            news), ``"cosigned"`` (the same checkpoint with more cosignatures),
            ``"stale"`` (older, and consistent), ``"busy"`` (another pending
            checkpoint is being filled first).

        Raises:
            MirrorError: ``bad_checkpoint``, ``log_flagged``, ``fork`` (evidence
                recorded), ``bad_tiles`` (the log's tiles do not lead to its root).
        """
        signed, clean = self._open(log, note)
        cp = signed.checkpoint
        st = self.state(log.origin)
        known = self._against_known(log, st, cp, clean)
        if known is not None:
            return known
        if st is not None and st.pending_size > st.size:
            return "busy"
        if st is not None and st.size > 0:
            held, path = _remote_prefix(log.origin, st.size, cp, remote)
            if held != st.root:
                assert st.note is not None
                self._fork(fork_between(log.origin, st.note, clean, path))
        with self.engine.begin() as conn:
            if st is None:
                try:
                    conn.execute(
                        insert(STATE).values(
                            origin=log.origin,
                            agency=log.agency,
                            size=0,
                            root=EMPTY_ROOT,
                            next_index=0,
                            pending=clean,
                        )
                    )
                except DBIntegrityError:
                    raise MirrorError(
                        f"{log.origin}: the mirror moved meanwhile", code="busy"
                    ) from None
            else:
                moved = conn.execute(
                    update(STATE)
                    .where(STATE.c.origin == log.origin, STATE.c.next_index == st.next_index)
                    .values(pending=clean)
                ).rowcount
                if moved != 1:
                    raise MirrorError(f"{log.origin}: the mirror moved meanwhile", code="busy")
        return "pending"

    def compare(self, log: MirroredLog, note: bytes) -> str:
        """Compare a checkpoint a peer passed on (gossip) with this mirror.

        Returns:
            ``"consistent"``, ``"cosigned"``, ``"ahead"`` (larger than anything held:
            to be checked once the mirror reaches it) or ``"flagged"``.

        Raises:
            MirrorError: ``bad_checkpoint``; ``fork`` with the evidence recorded.
        """
        if log.origin in self.flagged():
            return "flagged"
        signed, clean = self._open(log, note)
        known = self._against_known(log, self.state(log.origin), signed.checkpoint, clean)
        if known is None:
            return "ahead"
        return "consistent" if known in ("same", "stale") else known

    def _open(self, log: MirroredLog, note: bytes) -> tuple[SignedCheckpoint, bytes]:
        """Verify the log's signature; the note with only the signatures that verified."""
        if log.origin in self.flagged():
            raise MirrorError(
                f"{log.origin} is flagged for a proven fork; it is mirrored no more",
                code="log_flagged",
            )
        try:
            signed = open_checkpoint(note, log.log_key, log.witnesses)
            parsed = parse_note(note)
        except (CheckpointError, CryptoError) as exc:
            raise MirrorError(f"{log.origin}: {exc.message}", code="bad_checkpoint") from None
        keep = {(v.name, v.key_id) for v in (log.log_key, *signed.cosigners)}
        seen: set[tuple[str, bytes]] = set()
        lines = []
        for sig in parsed.signatures:
            if (sig.name, sig.key_id) in keep - seen:
                seen.add((sig.name, sig.key_id))
                lines.append(sig.line())
        return signed, parsed.text + b"\n" + "".join(lines).encode()

    def _against_known(
        self, log: MirroredLog, st: MirrorState | None, cp: Checkpoint, clean: bytes
    ) -> str | None:
        """Check a checkpoint no larger than what the mirror holds (or the same size as
        the pending one); None when it is larger (nothing to compare it with yet)."""
        if st is None or cp.size == 0:
            return "stale" if cp.size == 0 else None
        pending = st.pending_checkpoint
        if pending is not None and pending.size > st.size and cp.size == pending.size:
            if cp.root != pending.root:
                assert st.pending is not None
                self._fork(fork_between(log.origin, st.pending, clean))
            return "same"
        if cp.size > st.size:
            return None
        assert st.note is not None
        if cp.size == st.size:
            if cp.root != st.root:
                self._fork(fork_between(log.origin, st.note, clean))
            merged = add_signatures(st.note, parse_note(clean).signatures)
            if merged == st.note:
                return "same"
            with self.engine.begin() as conn:
                moved = conn.execute(
                    update(STATE)
                    .where(STATE.c.origin == log.origin, STATE.c.size == st.size)
                    .values(note=merged)
                ).rowcount
                if moved == 1:
                    _keep_witnessed(conn, log, st.size, merged)
            return "cosigned"
        path = prefix_proof(cp.size, st.size, self.hashes(log.origin))
        held = prefix_root(cp.size, st.size, st.root, path)
        if held != cp.root:
            self._fork(fork_between(log.origin, clean, st.note, path))
        return "stale"

    def _fork(self, evidence: ForkEvidence) -> None:
        record_evidence(self.engine, evidence, proven=True)
        raise MirrorError(
            f"{evidence.origin} signed two checkpoints that cannot both be true; "
            "the evidence is recorded and the log flagged",
            code="fork",
        )

    def add_entries(
        self,
        log: MirroredLog,
        first: int,
        entries: Sequence[bytes],
        remote: HashReader,
        *,
        check: Callable[[Sequence[bytes], int, MirroredLog], list[RecordMeta]] = check_entries,
    ) -> int:
        """Store the log's entries ``first``… once checked against the pending checkpoint.

        ``check`` is :func:`check_entries` or the same checks run elsewhere (a node runs
        them on every core); it raises on the first entry that fails.

        Returns:
            The number of entries now stored (the mirror checkpoint moves to the pending
            one when it reaches its size).

        Raises:
            MirrorError: ``out_of_order`` (not the next entries, or past the pending
                size), a record's code (see :func:`check_entries`), ``root_mismatch``
                (they are not the entries the signed checkpoint commits to),
                ``bad_tiles``, ``log_flagged``. Nothing is stored then.
        """
        if log.origin in self.flagged():
            raise MirrorError(f"{log.origin} is flagged for a proven fork", code="log_flagged")
        st = self.state(log.origin)
        pending = st.pending_checkpoint if st else None
        if st is None or pending is None or st.pending is None:
            raise MirrorError(f"{log.origin}: no pending checkpoint", code="out_of_order")
        if first != st.next_index or first + len(entries) > pending.size or not entries:
            raise MirrorError(
                f"{log.origin}: entries {first}..{first + len(entries) - 1} do not follow the "
                f"{st.next_index} stored within the pending size {pending.size}",
                code="out_of_order",
            )
        metas = check(entries, first, log)
        if len(metas) != len(entries):
            raise MirrorError(f"{log.origin}: not every entry was checked", code="bad_record")
        tiles = _MirrorTiles(self.engine, log.origin)
        builder = TreeBuilder(first, edge_of(first, tiles.read_tile))
        builder.append([hash_leaf(e) for e in entries])
        size = builder.size
        if size == pending.size:
            held = pending.root
        else:
            held, _ = _remote_prefix(log.origin, size, pending, remote)
        if builder.root() != held:
            raise MirrorError(
                f"{log.origin}: entries {first}..{size - 1} do not hash to the tree the "
                f"checkpoint of size {pending.size} signs",
                code="root_mismatch",
            )
        values: dict[str, Any] = {"next_index": size}
        if size == pending.size:
            values.update(
                size=size,
                root=pending.root,
                note=st.pending,
                verified_at=dt.datetime.now(dt.UTC),
            )
        changed = builder.take_changed()
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(STATE)
                .where(STATE.c.origin == log.origin, STATE.c.next_index == first)
                .values(**values)
            ).rowcount
            if moved != 1:
                raise MirrorError(f"{log.origin}: the mirror moved meanwhile", code="out_of_order")
            if size == pending.size:
                _keep_witnessed(conn, log, size, st.pending)
            # A plain DB-API executemany of one prepared statement, as ``Log.append``
            # does: SQLAlchemy's per-row parameter processing would cost more than the
            # database's own work (a step stores thousands of entries).
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(
                f"INSERT INTO {ENTRIES.name} (origin, idx, record_id, pwid, type, data) "
                f"VALUES ({', '.join([mark] * 6)})",
                [
                    (log.origin, first + i, *meta, e)
                    for i, (meta, e) in enumerate(zip(metas, entries, strict=True))
                ],
            )
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(TILES)
            stmt = stmt.on_conflict_do_update(
                index_elements=[TILES.c.origin, TILES.c.level, TILES.c.idx],
                set_={"data": stmt.excluded.data},
            )
            conn.execute(
                stmt,
                [
                    {"origin": log.origin, "level": lv, "idx": i, "data": d}
                    for (lv, i), d in sorted(changed.items())
                ],
            )
        return size

    # ---- reads (served under /mirror/<origin>/) ----------------------------------

    def _served(self, origin: str) -> MirrorState:
        st = self.state(origin)
        if st is None or st.note is None:
            raise NotFoundError(f"this node holds no verified copy of the log {origin!r}")
        return st

    def checkpoint(self, origin: str) -> bytes:
        """The mirror checkpoint: the log's signed note with the cosignatures that verified."""
        note = self._served(origin).note
        assert note is not None
        return note

    def tile(self, origin: str, level: int, index: int, width: int | None = None) -> bytes:
        """A tile of the mirrored log, C2SP tlog-tiles (within the mirror checkpoint)."""
        size = self._served(origin).size
        want = width or TILE_WIDTH
        if not 0 <= level <= 63 or index * TILE_WIDTH + want > size >> (8 * level):
            raise NotFoundError(
                f"tile {level}/{index} width {want} is beyond the mirror of {origin}"
            )
        data = _MirrorTiles(self.engine, origin).read_tiles([(level, index)])[0]
        if len(data) < want * 32:
            raise IntegrityError(f"mirror of {origin}: tile {level}/{index} is too short")
        return data[: want * 32]

    def entry_bundle(self, origin: str, index: int, width: int | None = None) -> bytes:
        """An entry bundle of the mirrored log (within the mirror checkpoint)."""
        size = self._served(origin).size
        start, want = index * TILE_WIDTH, width or TILE_WIDTH
        if start + want > size:
            raise NotFoundError(
                f"entry bundle {index} width {want} is beyond the mirror of {origin}"
            )
        return encode_entry_bundle(self.entries(origin, start, start + want))

    def entries(self, origin: str, start: int, end: int) -> list[bytes]:
        with self.engine.connect() as conn:
            data = (
                conn.execute(
                    select(ENTRIES.c.data)
                    .where(ENTRIES.c.origin == origin, ENTRIES.c.idx >= start, ENTRIES.c.idx < end)
                    .order_by(ENTRIES.c.idx)
                )
                .scalars()
                .all()
            )
        if len(data) != end - start:
            raise IntegrityError(f"mirror of {origin}: entries {start}..{end - 1} not all stored")
        return [bytes(d) for d in data]

    def records_of(self, pwid: str) -> list[tuple[str, int, bytes]]:
        """``(origin, index, entry)`` of a worker's records in every verified copy."""
        sizes = {st.origin: st.size for st in self.states()}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ENTRIES.c.origin, ENTRIES.c.idx, ENTRIES.c.data)
                .where(ENTRIES.c.pwid == pwid)
                .order_by(ENTRIES.c.origin, ENTRIES.c.idx)
            ).all()
        return [(o, int(i), bytes(d)) for o, i, d in rows if int(i) < sizes.get(o, 0)]

    def find(self, origin: str, record_id: str) -> tuple[int, bytes]:
        """``(index, entry)`` of a record in a verified copy."""
        size = self._served(origin).size
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ENTRIES.c.idx, ENTRIES.c.data).where(
                    ENTRIES.c.origin == origin, ENTRIES.c.record_id == record_id
                )
            ).first()
        if row is None or int(row[0]) >= size:
            raise NotFoundError(f"no record {record_id!r} in the mirror of {origin}")
        return int(row[0]), bytes(row[1])

    def inclusion_proof(self, origin: str, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the first ``size`` entries of the
        mirrored log (any size up to the mirror checkpoint's: the tiles hold them all),
        the same shape as :meth:`ledger.tlog.log.Log.inclusion_proof`."""
        st = self._served(origin)
        if not 0 <= index < size <= st.size:
            raise NotFoundError(f"index {index} at size {size} is not in the mirror of {origin}")
        return inclusion_proof(index, size, self.hashes(origin))

    def witnessed(self, origin: str) -> bytes | None:
        """The newest mirror checkpoint of ``origin`` that carried the witness quorum
        when it was stored (its cosignatures verified then; a reader checks them again
        against the trust list it holds)."""
        with self.engine.connect() as conn:
            note = conn.execute(
                select(WITNESSED.c.note).where(WITNESSED.c.origin == origin)
            ).scalar()
        return None if note is None else bytes(note)

    def consistency_proof(self, origin: str, first: int, second: int) -> list[bytes]:
        size = self._served(origin).size
        if not 0 < first <= second <= size:
            raise NotFoundError(f"no consistency proof from {first} to {second} in {origin}")
        return consistency_proof(first, second, self.hashes(origin))

    def root(self, origin: str, size: int) -> bytes:
        """The root of the first ``size`` entries of the mirrored log, from its tiles."""
        if not 0 < size <= self._served(origin).size:
            raise NotFoundError(f"size {size} is not within the mirror of {origin}")
        return tree_hash(size, self.hashes(origin))


def _remote_prefix(
    origin: str, size: int, cp: Checkpoint, remote: HashReader
) -> tuple[bytes, list[bytes]]:
    """The root of the first ``size`` entries that the log's own tiles show inside the
    signed ``cp``, and the prefix proof showing it."""
    path = prefix_proof(size, cp.size, remote)
    try:
        return prefix_root(size, cp.size, cp.root, path), path
    except ProofError as exc:
        raise MirrorError(
            f"{origin}: the log's tiles do not lead to its checkpoint's root: {exc.message}",
            code="bad_tiles",
        ) from None


def _keep_witnessed(conn: Any, log: MirroredLog, size: int, note: bytes) -> None:
    """Keep ``note``, the new mirror checkpoint, as the log's witnessed one if it carries
    the quorum (:mod:`pel.ledger.federation.quorum`) and is not older than the one kept."""
    if log.rule is None or not log.rule.check_note(note).ok:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(WITNESSED).values(origin=log.origin, size=size, note=note)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[WITNESSED.c.origin],
            set_={"size": stmt.excluded.size, "note": stmt.excluded.note},
            where=WITNESSED.c.size <= stmt.excluded.size,
        )
    )


def _state(row: Any) -> MirrorState:
    m = row._mapping
    return MirrorState(
        origin=m["origin"],
        agency=m["agency"],
        size=int(m["size"]),
        root=bytes(m["root"]),
        note=None if m["note"] is None else bytes(m["note"]),
        next_index=int(m["next_index"]),
        pending=None if m["pending"] is None else bytes(m["pending"]),
        verified_at=m["verified_at"],
    )
