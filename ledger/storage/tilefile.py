"""The tile-node file: a SQLite log's full level-0 tiles with their inner nodes, mapped.

A cold inclusion proof needs one full level-0 tile and its inner nodes (16 KiB). Read
through SQLite, they are copied into fresh memory, which the proof then keeps for the
next proofs: on a virtual machine, touching that memory for the first time costs more
than everything else the proof does. Here each full tile has a fixed 16 KiB slot in a
file that is memory-mapped, so that a proof slices its eight hashes straight out of the
operating system's file cache: nothing is copied and no fresh memory is touched.

The file holds nothing that the database does not: a slot is a ``tiles`` row and the
hashes of its pairs. Whatever is missing or untrusted in the file is written again from
the database, and full tiles never change, so a slot once right stays right.

Layout::

    0       b"pel tile-nodes 1"       magic (16 bytes)
    16      synced slot count         uint64, big-endian: slots below it were on disk
                                      (fdatasync) before the count was written
    24      SHA-256 of the origin     the log the slots belong to
    4096    slot t at 4096 + t·16384: tile t of level 0 (8 192 bytes), its heights 1 to
            7 (8 128 bytes, as ``tile_nodes`` stores them), 64 zero bytes

Slots are written in order, after the database has committed their tiles. A slot at or
above the synced count is used only by the instance that wrote it (the file cache is
shared, so what it maps is right; the slot is just not yet known to survive a crash);
another process sees it once the count covers it. The file only ever grows: another
process may have it mapped, and shrinking a mapped file kills that process (SIGBUS).
"""

from __future__ import annotations

import ctypes
import hashlib
import mmap
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ledger.merkle.hashing import HASH_SIZE
from ledger.merkle.tiles import INNER_NODES_BYTES, TILE_WIDTH
from ledger.storage.engine import StorageError

MAGIC = b"pel tile-nodes 1"
HEADER_SIZE = 4096
SLOT_SIZE = 16384
NODES_SIZE = TILE_WIDTH * HASH_SIZE + INNER_NODES_BYTES
"""A slot's used bytes: the tile, then its inner nodes (16 320)."""
_COUNT_AT = len(MAGIC)
_ORIGIN_AT = _COUNT_AT + 8

WINDOW_SLOTS = 1024
"""Slots per mapping (16 MiB): few mappings (and file descriptors, one per mapping)
for a big log, and each mapped once its slots exist."""
GROW_SLOTS = 64
"""The file is extended 64 slots (1 MiB) at a time, so that a window is mapped again
at most 16 times while it fills."""

_SlotBytes = ctypes.c_char * NODES_SIZE
"""A view of one slot's used bytes. A ``ctypes`` array over the mapping, because its
slices are ``bytes`` (as a tile's cached nodes are), and making one costs no system
call or file descriptor: an ``mmap`` per slot would cost both."""


def tile_file_path(database: str | None) -> Path | None:
    """The tile-node file beside a SQLite database file; None for an in-memory one."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database + "-tiles")


class TileNodeFile:
    """One log's tile-node file, opened for reading and, by the log's integrator, writing.

    ``count`` is the number of slots this instance may use: those synced when it
    opened (or read since), and those it wrote itself.
    """

    def __init__(self, path: Path, origin: str, *, writable: bool) -> None:
        self.path = path
        self.writable = writable
        self._origin_hash = hashlib.sha256(origin.encode()).digest()
        flags = (os.O_RDWR | os.O_CREAT if writable else os.O_RDONLY) | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o644)
        self._lock = threading.Lock()
        self._windows: dict[int, tuple[mmap.mmap, int]] = {}
        self._synced_at = time.monotonic()
        self._dirty = False
        try:
            header = os.pread(self._fd, HEADER_SIZE, 0)
            self.synced = 0
            if not header:  # new: a reader finds no slot yet
                if writable:
                    self._write_header(0)
                    os.fsync(self._fd)
            elif header[:_COUNT_AT] != MAGIC or len(header) < HEADER_SIZE:
                raise StorageError(
                    f"{path} is not a pel tile-node file: move it away and the log "
                    "writes it again from the database",
                    code="bad_tile_file",
                )
            elif header[_ORIGIN_AT : _ORIGIN_AT + HASH_SIZE] != self._origin_hash:
                # Another log's slots: none is used; a writer claims the file at once.
                if not writable:
                    raise StorageError(
                        f"{path} holds another log's tiles", code="foreign_tile_file"
                    )
                self._write_header(0)
                os.fsync(self._fd)
            else:
                in_file = (os.fstat(self._fd).st_size - HEADER_SIZE) // SLOT_SIZE
                self.synced = min(int.from_bytes(header[_COUNT_AT:_ORIGIN_AT], "big"), in_file)
        except BaseException:
            os.close(self._fd)
            raise
        self.count = self.synced

    # ---- reading -------------------------------------------------------------------

    def slot(self, index: int) -> _SlotBytes | None:
        """Tile ``index``'s nodes as a mapped view (sliced like ``bytes``), or None if
        its slot is not one this instance may use."""
        if index >= self.count and index >= self.refresh():
            return None
        window, at = divmod(index, WINDOW_SLOTS)
        mapped = self._windows.get(window)
        if mapped is None or at >= mapped[1]:
            mapped = self._map(window, at)
        return _SlotBytes.from_buffer(mapped[0], at * SLOT_SIZE)

    def read(self, index: int) -> bytes | None:
        """Tile ``index``'s slot, copied (the used bytes), or None as for :meth:`slot`."""
        if index >= self.count and index >= self.refresh():
            return None
        return os.pread(self._fd, NODES_SIZE, HEADER_SIZE + index * SLOT_SIZE)

    def refresh(self) -> int:
        """Take up the synced count another process may have written; the new count."""
        synced = int.from_bytes(os.pread(self._fd, 8, _COUNT_AT), "big")
        with self._lock:
            if synced > self.count:
                self.count = synced
            return self.count

    def _map(self, window: int, at: int) -> tuple[mmap.mmap, int]:
        with self._lock:
            mapped = self._windows.get(window)
            if mapped is None or at >= mapped[1]:
                in_file = (os.fstat(self._fd).st_size - HEADER_SIZE) // SLOT_SIZE
                slots = min(WINDOW_SLOTS, in_file - window * WINDOW_SLOTS)
                # ACCESS_COPY: a private mapping, so that nothing done through it could
                # reach the file; ``ctypes`` needs a writable buffer to view it without a
                # copy. Pages never written to are the file cache's, and follow the file.
                mapped = (
                    mmap.mmap(
                        self._fd,
                        slots * SLOT_SIZE,
                        access=mmap.ACCESS_COPY,
                        offset=HEADER_SIZE + window * WINDOW_SLOTS * SLOT_SIZE,
                    ),
                    slots,
                )
                # A mapping replaced here stays alive as long as a view of it does.
                self._windows[window] = mapped
            return mapped

    def read_ahead(self, first: int, end: int, buffer: bytearray) -> int:
        """Read slots ``first`` ≤ t < ``end`` into the file cache (through ``buffer``,
        reused); the bytes read."""
        end = min(end, self.count)
        done = 0
        view = memoryview(buffer)
        while first < end:
            n = min(end - first, len(buffer) // SLOT_SIZE)
            done += os.preadv(self._fd, [view[: n * SLOT_SIZE]], HEADER_SIZE + first * SLOT_SIZE)
            first += n
        return done

    # ---- writing -------------------------------------------------------------------

    def append(self, first: int, slots: Sequence[bytes]) -> None:
        """Write ``slots`` (each a full tile and its inner nodes) from slot ``first``,
        which must be :attr:`count`: slots are written in order."""
        if not self.writable:
            raise StorageError(f"{self.path} is open for reading only")
        if first != self.count:
            raise StorageError(f"tile-node slot {first} written out of order (at {self.count})")
        for nodes in slots:
            if len(nodes) != NODES_SIZE:
                raise StorageError(f"a tile-node slot holds {NODES_SIZE} bytes, not {len(nodes)}")
        end = first + len(slots)
        size = os.fstat(self._fd).st_size
        if size < HEADER_SIZE + end * SLOT_SIZE:
            grown = -(-end // GROW_SLOTS) * GROW_SLOTS
            _grow(self._fd, HEADER_SIZE + grown * SLOT_SIZE)
        pad = bytes(SLOT_SIZE - NODES_SIZE)
        data = b"".join(nodes + pad for nodes in slots)
        os.pwrite(self._fd, data, HEADER_SIZE + first * SLOT_SIZE)
        with self._lock:
            self.count = end
            self._dirty = True

    def sync(self, *, every: float = 0.0) -> None:
        """Put the written slots on disk, then record their count in the header; do
        nothing if the last sync was less than ``every`` seconds ago."""
        if not self.writable or not self._dirty or time.monotonic() - self._synced_at < every:
            return
        count = self.count
        os.fdatasync(self._fd)
        self._write_header(count)
        self._synced_at = time.monotonic()
        self._dirty = count != self.count
        self.synced = count

    def reset(self, count: int) -> None:
        """Use only the first ``count`` slots (the rest are written again), and record
        that in the header at once."""
        if not self.writable:
            raise StorageError(f"{self.path} is open for reading only")
        with self._lock:
            self.count = min(self.count, count)
            self.synced = min(self.synced, count)
            self._write_header(self.synced)
        os.fdatasync(self._fd)

    def _write_header(self, count: int) -> None:
        header = MAGIC + count.to_bytes(8, "big") + self._origin_hash
        os.pwrite(self._fd, header.ljust(HEADER_SIZE, b"\0"), 0)

    def close(self) -> None:
        """Sync what was written and close the file (views already made stay valid)."""
        if self._fd < 0:
            return
        try:
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = -1
            self._windows.clear()


def _grow(fd: int, size: int) -> None:
    """Make the file ``size`` bytes long, its blocks allocated (never shrinks it)."""
    have = os.fstat(fd).st_size
    if have >= size:
        return
    try:
        os.posix_fallocate(fd, have, size - have)
    except (AttributeError, OSError):  # not on every platform and file system
        os.ftruncate(fd, size)
