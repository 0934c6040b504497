"""The start-up check of the mirrors: each stored copy of another member's log against
the checkpoints that log signed.

A mirror serves its copy (checkpoint, tiles, entry bundles, workers' records in
bundles) and compares every checkpoint it meets with it; everything it stores was
checked when fetched, but the tables are as open to change as any other. For each
mirrored log, always:

* ``mirror_state``: a log of a member of a trust list the node applied, owned by the
  agency its row names; the mirror checkpoint and the pending one signed by the log
  (and any witness line on them valid), their sizes and roots those of the row, the
  pending one no smaller, ``next_index`` between the two;
* ``mirror_entries`` are indexes 0 to ``next_index - 1``, and ``mirror_tiles`` exactly
  the tiles of that many entries;
* the stored tiles reproduce the mirror checkpoint's signed root;
* ``mirror_witnessed``: signed by the log, no larger than the mirror checkpoint, and
  its root the one the stored tiles give at its size;
* no row of a log that has no ``mirror_state`` row.

The full check also rehashes every stored entry into tiles compared with the stored
ones, and reads each row's columns (record id, PWID, type) against its entry, as for
the node's own log (``ledger.tlog.entry_check``). Any failure is ``mirror_damaged``:
the copy is refused, not mended (dropping it would forget the checkpoint that the
log's next ones are compared with).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from pel.crypto.note import NoteVerifier
from pel.ledger.errors import CheckpointError, DamagedLogError, IntegrityError, LedgerError
from pel.ledger.federation.mirror_store import (
    ENTRIES,
    STATE,
    TILES,
    WITNESSED,
    MirrorState,
    _MirrorTiles,
    _state,
)
from pel.ledger.merkle.hashing import EMPTY_ROOT, hash_leaf
from pel.ledger.merkle.proof import tree_hash
from pel.ledger.merkle.tiles import TILE_WIDTH, TileHashReader
from pel.ledger.tlog.checkpoint import Checkpoint, open_checkpoint_any
from pel.ledger.tlog.entry_check import check_fixed
from pel.ledger.tlog.rebuild import TileRebuilder, compare_tiles


def _damaged(origin: str, why: str) -> DamagedLogError:
    return DamagedLogError(f"the mirror of {origin}: {why}", code="mirror_damaged")


def _open(
    note: bytes, keys: Sequence[NoteVerifier], witnesses: Sequence[NoteVerifier]
) -> Checkpoint:
    return open_checkpoint_any(note, keys, witnesses).checkpoint


def check_mirrors(
    engine: Engine,
    agencies: Mapping[str, str],
    log_keys: Mapping[str, Sequence[NoteVerifier]],
    witnesses: Iterable[NoteVerifier],
    *,
    own: str,
    full: bool,
) -> tuple[int, int]:
    """Check every mirrored log (see the module's docstring).

    Args:
        agencies: Each member's origin → agency, over every trust list applied.
        log_keys: Each origin → its log keys (current and retired).
        witnesses: Every witness key known (their lines on a stored note must verify).
        own: This node's origin (it mirrors every log but its own).
        full: Also rehash every stored entry and read its columns.

    Returns:
        The logs checked, and the entries rehashed.

    Raises:
        DamagedLogError: ``mirror_damaged``, naming the log and what is wrong.
    """
    witnesses = tuple(witnesses)
    with engine.connect() as conn:
        states = {st.origin: st for st in map(_state, conn.execute(select(STATE)).all())}
        for table in (ENTRIES, TILES, WITNESSED):
            for (origin,) in conn.execute(select(table.c.origin).distinct()):
                if origin not in states:
                    raise _damaged(origin, f"{table.name} holds rows, but no mirror_state row")
    rehashed = 0
    for origin, st in sorted(states.items()):
        if origin == own or agencies.get(origin) != st.agency:
            raise _damaged(origin, f"it is not the log of a member agency {st.agency!r}")
        keys = log_keys[origin]
        try:
            _check_state(engine, st, keys, witnesses)
        except (CheckpointError, IntegrityError) as exc:
            raise _damaged(origin, exc.message) from None
        if full:
            rehashed += _rehash(engine, st)
    return len(states), rehashed


def _check_state(
    engine: Engine, st: MirrorState, keys: Sequence[NoteVerifier], witnesses: Sequence[NoteVerifier]
) -> None:
    origin = st.origin
    if st.note is None:
        if st.size != 0 or st.root != EMPTY_ROOT:
            raise IntegrityError(f"size {st.size} without a signed checkpoint")
    else:
        cp = _open(st.note, keys, witnesses)
        if (cp.size, cp.root) != (st.size, st.root):
            raise IntegrityError("the size or root of mirror_state is not its signed checkpoint's")
    top = st.size
    if st.pending is not None:
        pending = _open(st.pending, keys, witnesses)
        if pending.size < st.size or (pending.size == st.size and pending.root != st.root):
            raise IntegrityError("the pending checkpoint is behind the mirror checkpoint")
        top = pending.size
    if not st.size <= st.next_index <= top:
        raise IntegrityError(f"next_index {st.next_index} is outside {st.size}..{top}")
    with engine.connect() as conn:
        count, low, high = conn.execute(
            select(func.count(), func.min(ENTRIES.c.idx), func.max(ENTRIES.c.idx)).where(
                ENTRIES.c.origin == origin
            )
        ).one()
        if count != st.next_index or (count and (low, high) != (0, st.next_index - 1)):
            raise IntegrityError(
                f"{count} entries are stored, but mirror_state says {st.next_index}"
            )
        _check_tile_extent(conn, origin, st.next_index)
        witnessed = conn.execute(
            select(WITNESSED.c.size, WITNESSED.c.note).where(WITNESSED.c.origin == origin)
        ).first()
    hashes = TileHashReader(_MirrorTiles(engine, origin))
    if st.size and tree_hash(st.size, hashes) != st.root:
        raise IntegrityError("the stored tiles do not reproduce the signed root")
    if witnessed is not None:
        cp = _open(bytes(witnessed[1]), keys, witnesses)
        if cp.size != int(witnessed[0]) or cp.size > st.size:
            raise IntegrityError("mirror_witnessed is not a checkpoint of the copy")
        if cp.size and tree_hash(cp.size, hashes) != cp.root:
            raise IntegrityError("the stored tiles do not give the witnessed checkpoint's root")


def _check_tile_extent(conn: Any, origin: str, size: int) -> None:
    """The stored tiles are exactly those of a tree of ``size``."""
    rows = conn.execute(
        select(TILES.c.level, func.count(), func.min(TILES.c.idx), func.max(TILES.c.idx))
        .where(TILES.c.origin == origin)
        .group_by(TILES.c.level)
    ).all()
    want = {lv: -(-(size >> (8 * lv)) // TILE_WIDTH) for lv in range(64) if size >> (8 * lv)}
    got = {int(lv): (int(n), int(lo), int(hi)) for lv, n, lo, hi in rows}
    for level, tiles in want.items():
        if got.pop(level, None) != (tiles, 0, tiles - 1):
            raise IntegrityError(f"level {level} does not hold the {tiles} tiles of {size} entries")
    if got:
        raise IntegrityError(f"tiles are stored at level {min(got)}, beyond {size} entries")


def _rehash(engine: Engine, st: MirrorState) -> int:
    """Every stored entry rehashed into tiles compared with the stored ones, and its
    columns read against it."""
    rebuilt = TileRebuilder()
    tiles = _MirrorTiles(engine, st.origin)
    chunk = 64 * TILE_WIDTH
    with engine.connect() as conn:
        for start in range(0, st.next_index, chunk):
            end = min(st.next_index, start + chunk)
            c = ENTRIES.c
            rows = conn.execute(
                select(c.idx, c.record_id, c.pwid, c.type, c.data)
                .where(c.origin == st.origin, c.idx >= start, c.idx < end)
                .order_by(c.idx)
            ).all()
            entries = [(int(i), str(r), str(p), str(t), bytes(d)) for i, r, p, t, d in rows]
            expected = rebuilt.add([hash_leaf(e[4]) for e in entries])
            if rebuilt.size == st.next_index:
                expected.update(rebuilt.partial_tiles())
            try:
                for row in entries:
                    check_fixed(row, st.agency)
                compare_tiles(expected, tiles.read_tiles(sorted(expected)), "stored")
            except LedgerError as exc:
                raise _damaged(st.origin, exc.message) from None
    return st.next_index
