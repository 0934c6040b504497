"""The tile-node file: a SQLite log's full level-0 tiles with their inner nodes, mapped.

A cold inclusion proof needs one full level-0 tile and its inner nodes (16 KiB). Read
through SQLite, they are copied into fresh memory, which the proof then keeps for the
next proofs: on a virtual machine, touching that memory for the first time costs more
than everything else the proof does. Here each full tile has a fixed 16 KiB slot in a
file that is memory-mapped, so that a proof slices its eight hashes straight out of the
operating system's file cache: nothing is copied and no fresh memory is touched.

The file holds nothing that the database does not: a slot is a ``tiles`` row and the
hashes of its pairs. Whatever is missing or untrusted in it is written again from the
database, and full tiles never change, so a slot once right stays right. Anything
wrong with the file itself (unreadable, full disk, not mappable) makes the log read
the database instead; it never stops the log.

Layout::

    0       b"pel tile-nodes 1"     magic (16 bytes)
    16      synced slot count       uint64, big-endian: slots below it were on disk
                                    (fdatasync) before the header was written
    24      SHA-256 of the origin   the log the slots belong to
    56      root                    Merkle root of the first count·256 entries, as the
                                    database had them: an opener compares it with its own
    88      SHA-256 of bytes 16-87  a header written in part is not trusted
    4096    slot t at 4096 + t·16384: tile t of level 0 (8 192 bytes), its heights 1 to
            7 (8 128 bytes, as ``tile_nodes`` stores them), 64 zero bytes

Slots are written in order, after the database has committed their tiles. A slot at or
above the synced count is used only by the instance that wrote it (the file cache is
shared, so what it maps is right; it is just not yet known to survive a crash);
another process sees it once the header counts it. The file only ever grows: another
process may have it mapped, and shrinking a mapped file kills that process (SIGBUS).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import logging
import mmap
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pel.ledger.merkle.hashing import HASH_SIZE
from pel.ledger.merkle.tiles import INNER_NODES_BYTES, TILE_WIDTH
from pel.ledger.storage.engine import StorageError

log = logging.getLogger("pel.tilefile")

MAGIC = b"pel tile-nodes 1"
HEADER_SIZE = 4096
SLOT_SIZE = 16384
NODES_SIZE = TILE_WIDTH * HASH_SIZE + INNER_NODES_BYTES
"""A slot's used bytes: the tile, then its inner nodes (16 320)."""
_COUNT_AT = len(MAGIC)
_ORIGIN_AT = _COUNT_AT + 8
_ROOT_AT = _ORIGIN_AT + HASH_SIZE
_CHECK_AT = _ROOT_AT + HASH_SIZE
_HEADER_END = _CHECK_AT + HASH_SIZE
NO_ROOT = bytes(HASH_SIZE)
"""The root recorded with a count of zero."""

WINDOW_SLOTS = 4096
"""Slots per mapping (64 MiB, a million entries). Python 3.11's ``mmap`` keeps a file
descriptor per mapping, so mappings are few and large: about one per million entries,
plus the last window's, mapped again (at most ``WINDOW_SLOTS / GROW_SLOTS`` times) as
the file grows; a mapping replaced so stays alive while a view of it is cached."""
GROW_SLOTS = 64
"""The file is extended 64 slots (1 MiB) at a time, its blocks allocated."""

_SlotBytes = ctypes.c_char * NODES_SIZE
"""A view of one slot's used bytes. A ``ctypes`` array over the mapping, because its
slices are ``bytes`` (as a tile's cached nodes are), and making one costs no system
call or file descriptor: an ``mmap`` per slot would cost both."""

_datasync = getattr(os, "fdatasync", os.fsync)  # fdatasync is not on every platform

RootOf = Callable[[int], bytes]
"""``root_of(count)``: the Merkle root of the log's first ``count``·256 entries."""


def tile_file_path(database: str | None) -> Path | None:
    """The tile-node file beside a SQLite database file; None for an in-memory one."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database + "-tiles")


def _header_fields(count: int, origin_hash: bytes, root: bytes) -> bytes:
    fields = count.to_bytes(8, "big") + origin_hash + root
    return fields + hashlib.sha256(fields).digest()


class TileNodeFile:
    """One log's tile-node file, opened for reading or, by the log's integrator, writing.

    ``count`` is the number of slots this instance may use: those the header counted
    when it opened (or since), and those it wrote itself. ``root`` is the root the
    header recorded with its count, for the opener to compare with its database.
    A writer records ``root_of(count)`` whenever it syncs.

    Raises:
        StorageError: ``tile_file_unavailable`` (it cannot be opened or created),
            ``bad_tile_file`` (not a tile-node file), ``foreign_tile_file`` (another
            log's, opened for reading).
    """

    def __init__(
        self, path: Path, origin: str, *, writable: bool, root_of: RootOf | None = None
    ) -> None:
        self.path = path
        self.writable = writable
        self._root_of = root_of
        self._origin_hash = hashlib.sha256(origin.encode()).digest()
        self._lock = threading.Lock()  # the descriptor, the windows, the counts
        self._windows: dict[int, tuple[mmap.mmap, int, int]] = {}
        self._synced_at = time.monotonic()
        self._dirty = False
        self._unmappable = False
        self.synced = self.count = 0
        self.root = NO_ROOT
        flags = (os.O_RDWR | os.O_CREAT if writable else os.O_RDONLY) | os.O_CLOEXEC
        try:
            self._fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise StorageError(
                f"the tile-node file {path} cannot be opened: {exc.strerror}",
                code="tile_file_unavailable",
            ) from None
        try:
            self._read_header()
        except BaseException as exc:
            os.close(self._fd)
            self._fd = -1
            if isinstance(exc, OSError):
                raise StorageError(
                    f"the tile-node file {path} cannot be read or created: {exc.strerror}",
                    code="tile_file_unavailable",
                ) from None
            raise

    def _read_header(self) -> None:
        header = os.pread(self._fd, _HEADER_END, 0)
        if len(header) < _HEADER_END or not header.strip(b"\0"):
            # New, or created by a writer that stopped before its first header reached
            # the disk: nothing in it is counted.
            if self.writable:
                self._write_header(0, NO_ROOT)
                os.fsync(self._fd)
            return
        if header[:_COUNT_AT] != MAGIC:
            raise StorageError(
                f"{self.path} is not a pel tile-node file: move it away, and the log "
                "writes it again from the database",
                code="bad_tile_file",
            )
        if header[_ORIGIN_AT:_ROOT_AT] != self._origin_hash:
            if not self.writable:
                raise StorageError(
                    f"{self.path} holds another log's tiles", code="foreign_tile_file"
                )
            # Another log's slots: none is used, and the writer claims the file at once.
            self._write_header(0, NO_ROOT)
            os.fsync(self._fd)
            return
        count = self._counted(header)
        if count is not None:
            self.synced = self.count = count
            self.root = header[_ROOT_AT:_CHECK_AT]

    def _counted(self, header: bytes) -> int | None:
        """The count a header holds, if it is this log's, its check holds and the file
        has that many slots."""
        fields = header[_COUNT_AT:_CHECK_AT]
        if hashlib.sha256(fields).digest() != header[_CHECK_AT:_HEADER_END]:
            return None  # written in part (a crash, or a read during the write)
        if header[_ORIGIN_AT:_ROOT_AT] != self._origin_hash:
            return 0  # another log's writer took the file: none of it is this log's
        count = int.from_bytes(header[_COUNT_AT:_ORIGIN_AT], "big")
        if HEADER_SIZE + count * SLOT_SIZE > os.fstat(self._fd).st_size:
            return None
        return count

    # ---- reading -------------------------------------------------------------------

    def slot(self, index: int) -> _SlotBytes | None:
        """Tile ``index``'s nodes as a mapped view (sliced like ``bytes``), or None if
        its slot is not one this instance may use, or cannot be mapped."""
        # A writer's own count is the whole truth; a reader looks at the header again.
        if index >= self.count and (self.writable or index >= self.refresh()):
            return None
        window, at = divmod(index, WINDOW_SLOTS)
        mapped = self._windows.get(window)
        if mapped is None or at >= mapped[1]:
            mapped = self._map(window, at)
            if mapped is None:
                return None
        return _SlotBytes.from_buffer(mapped[0], mapped[2] + at * SLOT_SIZE)

    def read(self, index: int) -> bytes | None:
        """Tile ``index``'s slot, copied (the used bytes), or None as for :meth:`slot`
        and when it cannot be read whole."""
        if index >= self.count and index >= self.refresh():
            return None
        with self._lock:
            if self._fd < 0:
                return None
            try:
                data = os.pread(self._fd, NODES_SIZE, HEADER_SIZE + index * SLOT_SIZE)
            except OSError:
                return None
        return data if len(data) == NODES_SIZE else None

    def refresh(self) -> int:
        """Take up the count the header holds now (a writer's: it follows its own
        count only upwards); the count. A header that cannot be read changes nothing."""
        with self._lock:
            if self._fd < 0:
                return self.count
            try:
                count = self._counted(os.pread(self._fd, _HEADER_END, 0))
            except OSError:
                return self.count
            # A reader follows the header down too: a writer that found the slots wrong
            # lowered it, and writes them again.
            if count is not None and (count > self.count or not self.writable):
                self.count = count
            return self.count

    def _map(self, window: int, at: int) -> tuple[mmap.mmap, int, int] | None:
        """Map ``window`` over as many of its slots as the file holds (at least
        ``at`` + 1): ``(mapping, slots, offset of the first slot in it)``."""
        with self._lock:
            mapped = self._windows.get(window)
            if mapped is not None and at < mapped[1]:
                return mapped
            if self._fd < 0 or self._unmappable:
                return None
            start = HEADER_SIZE + window * WINDOW_SLOTS * SLOT_SIZE
            # The offset of a mapping must be a multiple of the allocation granularity
            # (the page size): 4 KiB on most machines, 16 or 64 KiB on some.
            skip = start % mmap.ALLOCATIONGRANULARITY
            try:
                in_file = (os.fstat(self._fd).st_size - start) // SLOT_SIZE
                slots = min(WINDOW_SLOTS, in_file)
                # ACCESS_COPY: a private mapping, so that nothing done through it could
                # reach the file; ``ctypes`` needs a writable buffer to view it without a
                # copy. Pages never written to are the file cache's, and follow the file.
                area = mmap.mmap(
                    self._fd,
                    skip + slots * SLOT_SIZE,
                    access=mmap.ACCESS_COPY,
                    offset=start - skip,
                )
            except (OSError, ValueError) as exc:  # out of descriptors or address space
                self._unmappable = True
                log.warning(
                    "the tile-node file cannot be mapped, proofs read the database: %s", exc
                )
                return None
            mapped = (area, slots, skip)
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
            with self._lock:
                if self._fd < 0:
                    break
                done += os.preadv(
                    self._fd, [view[: n * SLOT_SIZE]], HEADER_SIZE + first * SLOT_SIZE
                )
            first += n
        return done

    # ---- writing -------------------------------------------------------------------

    def append(self, first: int, slots: Sequence[bytes]) -> None:
        """Write ``slots`` (each a full tile and its inner nodes) from slot ``first``,
        which must be :attr:`count`: slots are written in order.

        Raises:
            OSError: the file cannot be written (the slots are then not counted).
        """
        if not self.writable:
            raise StorageError(f"{self.path} is not open for writing")
        if first != self.count:
            raise StorageError(f"tile-node slot {first} written out of order (at {self.count})")
        for nodes in slots:
            if len(nodes) != NODES_SIZE:
                raise StorageError(f"a tile-node slot holds {NODES_SIZE} bytes, not {len(nodes)}")
        end = first + len(slots)
        pad = bytes(SLOT_SIZE - NODES_SIZE)
        data = b"".join(nodes + pad for nodes in slots)
        with self._lock:
            if not self.writable or self._fd < 0:
                raise StorageError(f"{self.path} is not open for writing")
            try:
                if os.fstat(self._fd).st_size < HEADER_SIZE + end * SLOT_SIZE:
                    grown = -(-end // GROW_SLOTS) * GROW_SLOTS
                    _grow(self._fd, HEADER_SIZE + grown * SLOT_SIZE)
                _write_all(self._fd, data, HEADER_SIZE + first * SLOT_SIZE)
            except BaseException:
                self._fail_locked()
                raise
            self.count = end
            self._dirty = True

    def sync(self, *, every: float = 0.0) -> None:
        """Put the written slots on disk, then record their count (and root) in the
        header; nothing if the last sync was less than ``every`` seconds ago.

        Raises:
            OSError: the disk refused (the caller then calls :meth:`fail`).
        """
        if not self.writable or not self._dirty or time.monotonic() - self._synced_at < every:
            return
        count = self.count
        root = self._root(count)
        with self._lock:
            # Checked again under the lock: a sync that failed in another thread meanwhile
            # must not be followed by one that counts what it may have lost.
            if not self.writable or self._fd < 0:
                return
            try:
                _datasync(self._fd)
                self._write_header(count, root)
            except BaseException:
                self._fail_locked()
                raise
            self._synced_at = time.monotonic()
            self._dirty = count != self.count
            self.synced, self.root = count, root

    def reset(self, count: int) -> None:
        """Use only the first ``count`` slots (the rest are written again), and record
        that in the header at once."""
        if not self.writable:
            raise StorageError(f"{self.path} is not open for writing")
        root = self._root(count)
        with self._lock:
            self.count = self.synced = count
            self.root = root
            try:
                self._write_header(count, root)
                _datasync(self._fd)
            except BaseException:
                self._fail_locked()
                raise

    def fail(self) -> None:
        """Stop writing: use only the synced slots, and write nothing more (after a
        write or sync the disk refused, a later sync could count slots whose pages were
        lost). :meth:`append`, :meth:`sync` and :meth:`reset` do it themselves when the
        disk refuses them."""
        with self._lock:
            self._fail_locked()

    def _fail_locked(self) -> None:
        self.count = self.synced
        self._dirty = False
        self.writable = False

    def _root(self, count: int) -> bytes:
        if count == 0:
            return NO_ROOT
        if self._root_of is None:
            raise StorageError(f"{self.path} is written without the log's roots")
        return self._root_of(count)

    def _write_header(self, count: int, root: bytes) -> None:
        header = MAGIC + _header_fields(count, self._origin_hash, root)
        _write_all(self._fd, header.ljust(HEADER_SIZE, b"\0"), 0)

    def close(self) -> None:
        """Sync what was written and close the file (views already made stay valid)."""
        try:
            self.sync()
        except Exception as exc:  # closed all the same: the slots are written again later
            log.warning("the tile-node file could not be synced at close: %s", exc)
        with self._lock:
            fd, self._fd = self._fd, -1
            self._windows.clear()
        if fd >= 0:
            with contextlib.suppress(OSError):  # the descriptor is released all the same
                os.close(fd)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    """``pwrite`` until all of ``data`` is written (a write may take only part)."""
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        if done <= 0:
            raise OSError(errno.EIO, "the tile-node file took no bytes")
        view, offset = view[done:], offset + done


def _grow(fd: int, size: int) -> None:
    """Make the file ``size`` bytes long, its blocks allocated (never shrinks it)."""
    have = os.fstat(fd).st_size
    if have >= size:
        return
    try:
        os.posix_fallocate(fd, have, size - have)
        return
    except AttributeError:  # not on every platform
        pass
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise  # a full disk among them: the slots are not counted
    # A file system that cannot allocate ahead: the last byte (a slot's zero padding)
    # written, which lengthens the file and, unlike ftruncate, never shortens it.
    _write_all(fd, b"\0", size - 1)
