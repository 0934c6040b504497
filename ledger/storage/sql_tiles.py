"""Stored tiles read back through SQL: the tiles, their inner nodes and the entries a log's
proofs and reads need, one query per batch, and on SQLite the tile-node file beside the
database (:mod:`pel.ledger.storage.tilefile`), kept in step with it.

:class:`SqlTileSource` is what :class:`pel.ledger.tlog.log.Log` hands to
:class:`pel.ledger.merkle.tiles.TileHashReader`; it holds no log logic (appending,
integrating, signing), only the storage of tiles.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Engine

from pel.ledger.errors import DamagedLogError, IntegrityError
from pel.ledger.merkle.proof import tree_hash
from pel.ledger.merkle.tiles import TILE_WIDTH, TileHashReader, full_tile_nodes
from pel.ledger.storage.models import EntryRow, LogStateRow, TileNodesRow, TileRow
from pel.ledger.storage.tilefile import NODES_SIZE, SLOT_SIZE, TileNodeFile, tile_file_path

ENTRIES = EntryRow.__table__
TILES = TileRow.__table__
TILE_NODES = TileNodesRow.__table__
STATE = LogStateRow.__table__

IN_CHUNK = 500  # bound on parameters per IN (...) query
_FILL_CHUNK = 128  # tiles written to the tile-node file from the database per step
_SYNC_EVERY = 1.0  # seconds between two syncs of the tile-node file by an integrator

# The log's logger: what this module reports is about the log's storage.
log = logging.getLogger("pel.log")


_ONE_TILE = {
    False: f"SELECT data, NULL FROM {TILES.name} WHERE level = ? AND idx = ?",
    True: f"SELECT t.data, n.data FROM {TILES.name} t LEFT JOIN {TILE_NODES.name} n "
    "ON n.level = t.level AND n.idx = t.idx WHERE t.level = ? AND t.idx = ?",
}


def _give_up(source: SqlTileSource, file: TileNodeFile, exc: Exception) -> None:
    """Stop writing the tile-node file after a failure: the database holds it all.
    Views of slots the disk may not have kept are dropped from the proofs' cache."""
    file.fail()
    if source.forget_views is not None:
        source.forget_views()
    log.warning("the tile-node file is no longer written, proofs read the database: %s", exc)


class _TilesOnly:
    """A source's stored tiles alone: neither inner nodes nor the tile-node file."""

    def __init__(self, source: SqlTileSource) -> None:
        self.read_tiles = source.read_tiles


class SqlTileSource:
    """Reads stored tiles, with their stored inner nodes, for :class:`TileHashReader`
    (one query per batch), and the entries of entry bundles.

    On SQLite with a database file, full level-0 tiles and their inner nodes are also
    kept in the tile-node file beside it (:mod:`ledger.storage.tilefile`), which proofs
    map instead of reading; their ``tile_nodes`` rows are then not written. The file is
    opened, and checked against the database, on first use; ``writer`` is the log's
    integrator, which writes the file and mends it. Where the file is missing, behind or
    unusable, a full level-0 tile without a row is read and rehashed (about 100 µs).
    """

    def __init__(self, engine: Engine, origin: str = "", *, writer: bool = False) -> None:
        self._engine = engine
        self._origin = origin
        self._writer = writer
        # On SQLite, tiles are read through one connection kept for the purpose: a cold
        # proof reads one tile (10-25 µs in SQLite), and checking a connection out of the
        # pool and SQLAlchemy's statement handling would cost several times that. Reads in
        # WAL mode never block the writer, and each statement sees the latest commit.
        self._sqlite = engine.dialect.name == "sqlite"
        self._raw: Any = None  # the pool's handle, given back on close
        self._db: Any = None  # its sqlite3 connection
        self._raw_lock = threading.Lock()
        self.file_path = tile_file_path(engine.url.database) if self._sqlite else None
        self._file: TileNodeFile | None = None
        self._file_opened = False
        self._file_lock = threading.Lock()  # opening the file, and writing it
        self._warm_buffer: bytearray | None = None
        self.forget_views: Callable[[], None] | None = None  # set by the log: its cache
        # Slots known to hold what the database holds: those below ``_trusted_below``
        # (compared with the rebuilt tiles by a full check), those this log wrote, and
        # those checked on first use. Any other slot is checked before a proof uses it.
        self._trusted_below = 0
        self._slot_ok: set[int] = set()
        self._slot_bad: set[int] = set()
        self._first_bad_slot: int | None = None  # found by a full check, to be mended
        self.repair = False  # whether a full check may write a damaged file again

    def close(self) -> None:
        # The file first: its last sync reads the root through the kept connection.
        with self._file_lock:
            file, self._file, self._file_opened = self._file, None, False
            if file is not None:
                file.close()
        with self._raw_lock:
            if self._raw is not None:
                self._raw.close()
                self._raw = self._db = None

    # ---- the tile-node file ----------------------------------------------------------

    @property
    def keeps_file(self) -> bool:
        """Whether full level-0 tiles' inner nodes go to the tile-node file (not rows)."""
        return self.file_path is not None

    def tile_file(self) -> TileNodeFile | None:
        """The tile-node file, opened and checked on the first call; None if this log
        has none (PostgreSQL, an in-memory database) or cannot use it. Then full
        level-0 tiles are read from the database, and rehashed where they have no row."""
        if not self._file_opened:
            with self._file_lock:
                if not self._file_opened:
                    self._file = self._open_file()
                    self._file_opened = True
        return self._file

    def _open_file(self) -> TileNodeFile | None:
        """Open the file and check it against the database (the caller holds
        ``_file_lock``). Its slots are used only if the database holds at least as many
        full tiles, with the root the header recorded, and the last slot's tile; else a
        writer writes them all again, and a reader leaves the file alone."""
        path = self.file_path
        if path is None or (not self._writer and not path.exists()):
            return None
        try:
            file = TileNodeFile(path, self._origin, writable=self._writer, root_of=self.root_at)
        except Exception as exc:  # the file is only ever a copy: the database serves on
            log.warning("not using the tile-node file %s: %s", path, exc)
            return None
        try:
            count = file.count
            if count and not self._agrees(file, count):
                log.warning("the tile-node file %s differs from the database: written again", path)
                count = 0
            if count == file.count:
                return file
            if self._writer:
                file.reset(count)
                return file
        except Exception as exc:  # the file is only ever a copy: the database serves on
            log.warning("not using the tile-node file %s: %s", path, exc)
        file.close()
        return None

    def _agrees(self, file: TileNodeFile, count: int) -> bool:
        """Whether the database has the tree whose first ``count`` tiles the file holds."""
        if count > self.full_tiles():
            return False  # an older copy of the database, or another one
        last = self.read_tiles([(0, count - 1)])[0]
        return (
            file.root == self.root_at(count)
            and last == (file.read(count - 1) or b"")[: TILE_WIDTH * 32]
        )

    def root_at(self, count: int) -> bytes:
        """The root of the first ``count`` full tiles' entries, from the stored tiles of
        level 1 and up (never from the tile-node file, nor from level-0 tiles)."""
        return tree_hash(count * TILE_WIDTH, TileHashReader(_TilesOnly(self)))

    def full_tiles(self) -> int:
        """Full level-0 tiles in the latest checkpoint's tree."""
        sizes: list[Any] = []

        def run(execute: Callable[[str, tuple[int, ...]], Iterable[Any]], mark: str) -> None:
            sizes.extend(execute(f"SELECT tree_size FROM {STATE.name}", ()))

        self._plain(run)
        return int(sizes[0][0]) // TILE_WIDTH if sizes else 0

    def map_full_tile(self, key: tuple[int, int]) -> Any:
        """A full level-0 tile's nodes, mapped from the tile-node file (sliced like
        ``bytes``: the tile, then its inner nodes), or None where the file has no slot."""
        if key[0] != 0:
            return None
        file = self._file if self._file_opened else self.tile_file()
        if file is None:
            return None
        index = key[1]
        if index in self._slot_bad:
            return None
        try:
            slot = file.slot(index)
        except (OSError, ValueError):  # a file changed behind the log's back: read the tile
            return None
        if slot is None or index < self._trusted_below or index in self._slot_ok:
            return slot
        return slot if self._check_slot(index, slot) else None

    def _check_slot(self, index: int, slot: Any) -> bool:
        """Whether slot ``index`` holds the database's tile and that tile's inner nodes
        (about 100 µs, once per slot): what a quick start-up check leaves unchecked."""
        tile = self.read_tiles([(0, index)])[0]
        full = TILE_WIDTH * 32
        if (
            len(tile) == full
            and slot[:full] == tile
            and slot[full:NODES_SIZE] == (full_tile_nodes(tile)[0])
        ):
            self._slot_ok.add(index)
            return True
        self._slot_bad.add(index)
        log.error(
            "tile 0/%d in the tile-node file %s differs from the database: proofs read the "
            "database instead (a full check writes the file again)",
            index,
            self.file_path,
        )
        return False

    def trust_slots(self, count: int) -> None:
        """Slots below ``count`` were just compared with the rebuilt tiles."""
        self._trusted_below = max(self._trusted_below, count)

    def note_bad_slot(self, index: int) -> None:
        """A full check found slot ``index`` wrong: :meth:`mend_file` writes it again
        (a writer asked to repair), else the check refuses the log.

        Raises:
            DamagedLogError: ``tile_file_damaged``, for a reader.
        """
        file = self._file
        if file is None or not file.writable or not self.repair:
            raise DamagedLogError(
                f"tile 0/{index} in the tile-node file {self.file_path} differs from its "
                "rebuilt tile; `pel check --repair` writes the file again from the database",
                code="tile_file_damaged",
            )
        if self._first_bad_slot is None or index < self._first_bad_slot:
            self._first_bad_slot = index

    def mend_file(self, size: int) -> list[str]:
        """Write the tile-node file again from the first slot a full check found wrong
        (the database holds it all); what was mended."""
        bad, self._first_bad_slot = self._first_bad_slot, None
        file = self._file
        if bad is None or file is None:
            if file is not None:
                self.trust_slots(file.count)
            return []
        with self._file_lock:
            file.reset(bad)
        if self.forget_views is not None:
            self.forget_views()
        self._slot_bad.clear()
        self.fill_file(size // TILE_WIDTH)
        self.trust_slots(file.count)
        log.warning("the tile-node file was written again from tile %d on", bad)
        return [f"tile-node file written again from tile 0/{bad}"]

    def store_full_tiles(self, slots: dict[int, bytes]) -> None:
        """Write the slots of level-0 tiles an integration just committed: ``{index:
        tile and inner nodes}``. Slots the file lacks before them are written from the
        database first, ``_FILL_CHUNK`` at a time (the rest wait for the next call). Any
        failure is logged and the file left behind: the database holds it all."""
        if not self._writer or not self.keeps_file:
            return
        file = self.tile_file()
        if file is None or not file.writable:
            return
        try:
            with self._file_lock:
                if slots and file.count < min(slots):
                    self._fill(file, min(slots), _FILL_CHUNK)
                if slots and min(slots) <= file.count <= max(slots):
                    self._slot_ok.update(range(file.count, max(slots) + 1))
                    file.append(file.count, [slots[i] for i in range(file.count, max(slots) + 1)])
                file.sync(every=_SYNC_EVERY)
        except Exception as exc:
            _give_up(self, file, exc)

    def fill_file(self, end: int) -> None:
        """Write the slots below ``end`` that the file lacks, from the database, a chunk
        at a time (the integrator's catch-up for a log written before the file, or after
        a crash), then sync them."""
        file = self.tile_file()
        if file is None or not file.writable:
            return
        try:
            end = min(end, self.full_tiles())
            while file.writable and file.count < end:
                with self._file_lock:
                    self._fill(file, end, _FILL_CHUNK)
            with self._file_lock:
                file.sync()
        except Exception as exc:
            _give_up(self, file, exc)

    def _fill(self, file: TileNodeFile, end: int, limit: int) -> None:
        """Write up to ``limit`` slots from ``file.count`` towards ``end`` (the caller
        holds ``_file_lock``), read through a connection of their own, not the one kept
        for proofs."""
        first = file.count
        stop = min(end, first + limit)
        if first >= stop:
            return
        mark = "?" if self._sqlite else "%s"
        sql = (
            f"SELECT t.idx, t.data, n.data FROM {TILES.name} t LEFT JOIN {TILE_NODES.name} n "
            f"ON n.level = t.level AND n.idx = t.idx WHERE t.level = 0 AND t.idx >= {mark} "
            f"AND t.idx < {mark} ORDER BY t.idx"
        )
        with self._engine.connect() as conn:
            rows = conn.exec_driver_sql(sql, (first, stop)).all()
        if [int(r[0]) for r in rows] != list(range(first, stop)):
            raise IntegrityError(f"stored tiles 0/{first}..{stop - 1} are missing")
        out = []
        for idx, tile, inner in rows:
            if len(tile) != TILE_WIDTH * 32:
                raise IntegrityError(f"tile 0/{idx} should be full and is not")
            out.append(
                bytes(tile) + (bytes(inner) if inner is not None else full_tile_nodes(tile)[0])
            )
        self._slot_ok.update(range(first, stop))
        file.append(first, out)

    def warm_file(self, first: int, end: int) -> int:
        """Bring slots ``first`` ≤ t < ``end`` into the file cache, writing those the file
        lacks first (the integrator only); the bytes read."""
        file = self.tile_file()
        if file is None:
            return 0
        if file.writable and file.count < end:
            self.fill_file(end)
        if self._warm_buffer is None:
            self._warm_buffer = bytearray(_FILL_CHUNK * SLOT_SIZE)
        return file.read_ahead(first, end, self._warm_buffer)

    def read_slot(self, index: int) -> bytes | None:
        """Tile ``index``'s slot in the tile-node file (tile, then inner nodes), if any."""
        file = self.tile_file()
        return None if file is None else file.read(index)

    def read_tiles(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        return [tile for tile, _ in self._read(coords, nodes=False)]

    def read_tiles_and_nodes(
        self, coords: Sequence[tuple[int, int]]
    ) -> list[tuple[bytes, bytes | None]]:
        return self._read(coords, nodes=True)

    def read_nodes(self, coords: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored inner nodes of those of ``coords`` that have them."""
        read = self._read(coords, nodes=True)
        return {c: inner for c, (_, inner) in zip(coords, read, strict=True) if inner}

    def _sqlite_db(self) -> Any:
        """The kept connection (the caller holds ``_raw_lock``)."""
        if self._db is None:
            self._raw = self._engine.raw_connection()
            self._db = self._raw.driver_connection
            # Memory-mapped reads (of this connection only; writes are unchanged): a
            # tile and its inner nodes span six pages, and mapping them halves a cold
            # read. SQLite caps the size at its build's limit (2 GiB here).
            self._db.execute("PRAGMA mmap_size=1099511627776")
        return self._db

    def _read(
        self, coords: Sequence[tuple[int, int]], *, nodes: bool
    ) -> list[tuple[bytes, bytes | None]]:
        if self._sqlite and len(coords) == 1:  # a cold proof's one tile
            with self._raw_lock:
                row = self._sqlite_db().execute(_ONE_TILE[nodes], coords[0]).fetchone()
            if row is None:
                raise IntegrityError(f"stored tiles missing: {list(coords)}")
            return [(bytes(row[0]), None if row[1] is None else bytes(row[1]))]
        wanted = set(coords)
        if nodes:
            select_from = (
                f"SELECT t.idx, t.data, n.data FROM {TILES.name} t LEFT JOIN {TILE_NODES.name} n "
                "ON n.level = t.level AND n.idx = t.idx WHERE t.level = {mark} AND t.idx IN "
            )
        else:
            select_from = (
                f"SELECT idx, data, NULL FROM {TILES.name} WHERE level = {{mark}} AND idx IN "
            )
        queries: list[tuple[int, list[int]]] = []
        for level in sorted({c[0] for c in wanted}):
            idxs = sorted(i for lv, i in wanted if lv == level)
            queries.extend(
                (level, idxs[start : start + IN_CHUNK]) for start in range(0, len(idxs), IN_CHUNK)
            )
        found: dict[tuple[int, int], tuple[bytes, bytes | None]] = {}

        def run(execute: Callable[[str, tuple[int, ...]], Iterable[Any]], mark: str) -> None:
            for level, chunk in queries:
                sql = select_from.format(mark=mark) + f"({', '.join([mark] * len(chunk))})"
                for idx, data, inner in execute(sql, (level, *chunk)):
                    found[(level, int(idx))] = (
                        bytes(data),
                        None if inner is None else bytes(inner),
                    )

        self._plain(run)
        missing = wanted - found.keys()
        if missing:
            raise IntegrityError(f"stored tiles missing: {sorted(missing)[:5]}")
        return [found[c] for c in coords]

    def touch(self, table: Any, level: int, lo: int, hi: int) -> int:
        """Read the stored ``data`` of ``table``'s rows at ``level`` with ``lo`` ≤ idx < ``hi``
        in full, keeping nothing; the bytes read. A column given only to ``length`` would
        not be read, so the database is asked for the last byte of each value, which
        needs all of it (SQLite follows every overflow page, PostgreSQL detoasts)."""
        last = "substr(data, -1)" if self._sqlite else "get_byte(data, length(data) - 1)"
        mark = "?" if self._sqlite else "%s"
        sql = (
            f"SELECT count({last}), coalesce(sum(length(data)), 0) FROM {table.name} "
            f"WHERE level = {mark} AND idx >= {mark} AND idx < {mark}"
        )
        # Not the kept connection: a long read on it would make proofs wait.
        with self._engine.connect() as conn:
            row = conn.exec_driver_sql(sql, (level, lo, hi)).one()
        return int(row[1])

    def read_entries(self, start: int, end: int) -> list[bytes]:
        """The stored entries ``start`` ≤ index < ``end``, in order (those that exist):
        an entry bundle is 256 rows, and SQLAlchemy's row processing would cost more
        than reading them."""
        rows: list[Any] = []

        def run(execute: Callable[[str, tuple[int, ...]], Iterable[Any]], mark: str) -> None:
            sql = (
                f"SELECT data FROM {ENTRIES.name} WHERE idx >= {mark} AND idx < {mark} ORDER BY idx"
            )
            rows.extend(execute(sql, (start, end)))

        self._plain(run)
        return [bytes(row[0]) for row in rows]

    def _plain(
        self, run: Callable[[Callable[[str, tuple[int, ...]], Iterable[Any]], str], None]
    ) -> None:
        """Call ``run(execute, mark)`` with plain DB-API statement execution and the
        driver's parameter mark."""
        if self._sqlite:
            with self._raw_lock:
                db = self._sqlite_db()
                run(lambda sql, params: db.execute(sql, params).fetchall(), "?")
        else:
            with self._engine.connect() as conn:
                # Plain DB-API statements: SQLAlchemy's statement building would cost
                # more than the database's own work.
                run(lambda sql, params: conn.exec_driver_sql(sql, params).all(), "%s")
