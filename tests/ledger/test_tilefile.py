"""The tile-node file on its own: slots in order, mapped views, the synced count that
another process and a restart trust, growth, and files that are not this log's."""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pel.ledger.merkle.tiles import full_tile_nodes
from pel.ledger.storage import tilefile
from pel.ledger.storage.engine import StorageError
from pel.ledger.storage.tilefile import (
    HEADER_SIZE,
    NODES_SIZE,
    SLOT_SIZE,
    TileNodeFile,
    tile_file_path,
)

ORIGIN = "perkeso.gov.my/pel"


def root_of(count: int) -> bytes:
    """A stand-in for the log's root of its first count·256 entries."""
    return hashlib.sha256(count.to_bytes(8, "big")).digest()


def open_writer(path: Path, origin: str = ORIGIN) -> TileNodeFile:
    return TileNodeFile(path, origin, writable=True, root_of=root_of)


def slot_bytes(seed: int) -> bytes:
    tile = b"".join(seed.to_bytes(4, "big") + i.to_bytes(28, "big") for i in range(256))
    return tile + full_tile_nodes(tile)[0]


def test_the_path_is_beside_a_database_file_only() -> None:
    assert tile_file_path("/var/pel/pel.db") == Path("/var/pel/pel.db-tiles")
    assert tile_file_path(None) is None
    assert tile_file_path(":memory:") is None
    assert tile_file_path("file:x?mode=memory") is None


def test_slots_are_mapped_as_written_and_refused_out_of_order(tmp_path: Path) -> None:
    f = open_writer(tmp_path / "t")
    f.append(0, [slot_bytes(0), slot_bytes(1)])
    f.append(2, [slot_bytes(2)])
    assert f.count == 3
    for i in range(3):
        view = f.slot(i)
        assert view is not None and bytes(view) == slot_bytes(i)
        assert view[32:64] == slot_bytes(i)[32:64] and isinstance(view[0:32], bytes)
        assert f.read(i) == slot_bytes(i)
    assert f.slot(3) is None and f.read(3) is None
    with pytest.raises(StorageError, match="out of order"):
        f.append(4, [slot_bytes(4)])
    with pytest.raises(StorageError, match="16320 bytes"):
        f.append(3, [b"short"])
    assert f.count == 3
    f.close()


def test_another_process_and_a_restart_trust_only_synced_slots(tmp_path: Path) -> None:
    path = tmp_path / "t"
    writer = open_writer(path)
    writer.append(0, [slot_bytes(i) for i in range(5)])
    reader = TileNodeFile(path, ORIGIN, writable=False)
    assert reader.count == 0 and reader.slot(0) is None  # written, not yet synced
    writer.sync()
    assert reader.slot(4) is not None and reader.count == 5  # the header is read again
    writer.append(5, [slot_bytes(5), slot_bytes(6)])
    writer.sync(every=3600)  # synced a moment ago: not again
    assert reader.slot(5) is None
    # A crash now: the writer never syncs again. A restart trusts the five synced slots.
    again = open_writer(path)
    assert again.count == again.synced == 5
    with pytest.raises(StorageError, match="out of order"):
        again.append(7, [slot_bytes(7)])
    again.append(5, [slot_bytes(5)])  # written again from the database
    again.close()
    assert TileNodeFile(path, ORIGIN, writable=False).count == 6
    writer.close()  # its own close syncs what it wrote: the same bytes
    reader.close()


def test_reset_lowers_the_count_and_never_shrinks_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t"
    f = open_writer(path)
    f.append(0, [slot_bytes(i) for i in range(3)])
    f.sync()
    size = path.stat().st_size
    assert size == HEADER_SIZE + tilefile.GROW_SLOTS * SLOT_SIZE  # grown a step at a time
    f.reset(1)
    assert f.count == f.synced == 1 and path.stat().st_size == size
    assert TileNodeFile(path, ORIGIN, writable=False).count == 1
    reader = TileNodeFile(path, ORIGIN, writable=False)
    with pytest.raises(StorageError, match="not open for writing"):
        reader.append(1, [slot_bytes(1)])
    with pytest.raises(StorageError, match="not open for writing"):
        reader.reset(0)
    f.close()


def test_a_header_beyond_the_file_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "t"
    f = open_writer(path)
    f.append(0, [slot_bytes(0)])
    f.close()
    origin_hash = hashlib.sha256(ORIGIN.encode()).digest()
    with open(path, "r+b") as raw:  # a well-formed header that counts slots never written
        raw.seek(len(tilefile.MAGIC))
        raw.write(tilefile._header_fields(10**6, origin_hash, root_of(10**6)))
    assert TileNodeFile(path, ORIGIN, writable=False).count == 0


def test_files_that_are_not_this_logs(tmp_path: Path) -> None:
    other = tmp_path / "other"
    f = open_writer(other, "other.example/log")
    f.append(0, [slot_bytes(0)])
    f.close()
    with pytest.raises(StorageError) as info:
        TileNodeFile(other, ORIGIN, writable=False)
    assert info.value.code == "foreign_tile_file"
    claimed = open_writer(other)
    assert claimed.count == 0  # its slots are written again
    claimed.close()
    assert TileNodeFile(other, ORIGIN, writable=False).count == 0

    junk = tmp_path / "junk"
    junk.write_bytes(b"not a tile-node file" * 300)
    for writable in (False, True):
        with pytest.raises(StorageError) as info:
            TileNodeFile(junk, ORIGIN, writable=writable, root_of=root_of)
        assert info.value.code == "bad_tile_file"
    assert junk.read_bytes() == b"not a tile-node file" * 300  # left as it was


def test_views_made_before_a_window_is_mapped_again_stay_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tilefile, "WINDOW_SLOTS", 4)
    monkeypatch.setattr(tilefile, "GROW_SLOTS", 2)
    f = open_writer(tmp_path / "t")
    views = []
    for i in range(11):  # windows of 4, each mapped again as the file grows
        f.append(i, [slot_bytes(i)])
        views.append(f.slot(i))
    f.close()
    assert [bytes(v) for v in views] == [slot_bytes(i) for i in range(11)]


@settings(max_examples=25, deadline=None)
@given(chunks=st.lists(st.integers(1, 5), min_size=1, max_size=6), window=st.integers(1, 6))
def test_any_order_of_appends_reads_back(
    tmp_path_factory: pytest.TempPathFactory, chunks: list[int], window: int
) -> None:
    path = tmp_path_factory.mktemp("f") / "t"
    saved = tilefile.WINDOW_SLOTS
    tilefile.WINDOW_SLOTS = window
    try:
        f = open_writer(path)
        n = 0
        for c in chunks:
            f.append(n, [slot_bytes(i) for i in range(n, n + c)])
            n += c
            probe = f.slot(n - 1)
            assert probe is not None and bytes(probe) == slot_bytes(n - 1)
        f.sync()
        reader = TileNodeFile(path, ORIGIN, writable=False)
        got = [reader.slot(i) for i in range(n + 1)]
        assert [bytes(v) for v in got[:n] if v is not None] == [slot_bytes(i) for i in range(n)]
        assert got[n] is None
        assert os.path.getsize(path) >= HEADER_SIZE + n * SLOT_SIZE
        assert all(len(v) == NODES_SIZE for v in got[:n] if v is not None)
        reader.close()
        f.close()
    finally:
        tilefile.WINDOW_SLOTS = saved


def test_the_header_records_the_root_and_a_torn_header_counts_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t"
    f = open_writer(path)
    assert f.root == tilefile.NO_ROOT
    f.append(0, [slot_bytes(0), slot_bytes(1)])
    f.sync()
    assert f.root == root_of(2)
    f.close()
    reader = TileNodeFile(path, ORIGIN, writable=False)
    assert (reader.count, reader.root) == (2, root_of(2))
    reader.close()
    # One byte of the count changed (a header written in part): its check fails.
    with open(path, "r+b") as raw:
        raw.seek(len(tilefile.MAGIC) + 7)
        raw.write(b"\x01")
    assert TileNodeFile(path, ORIGIN, writable=False).count == 0
    again = open_writer(path)
    assert again.count == 0
    again.close()


def test_a_header_never_written_is_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_bytes(bytes(HEADER_SIZE))  # created, then a crash before the header
    assert TileNodeFile(path, ORIGIN, writable=False).count == 0
    f = open_writer(path)
    f.append(0, [slot_bytes(0)])
    f.close()
    assert TileNodeFile(path, ORIGIN, writable=False).count == 1


def test_refresh_trusts_no_count_beyond_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t"
    f = open_writer(path)
    reader = TileNodeFile(path, ORIGIN, writable=False)
    f.append(0, [slot_bytes(0)])
    # A header claiming more slots than the file has, with a valid check.
    with open(path, "r+b") as raw:
        raw.seek(len(tilefile.MAGIC))
        raw.write(
            tilefile._header_fields(10**6, hashlib.sha256(ORIGIN.encode()).digest(), root_of(1))
        )
    assert reader.refresh() == 0 and reader.slot(0) is None
    f.sync()
    assert reader.refresh() == 1
    reader.close()
    f.close()


def test_a_file_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    for writable in (True, False):
        with pytest.raises(StorageError) as info:
            TileNodeFile(tmp_path / "no" / "t", ORIGIN, writable=writable, root_of=root_of)
        assert info.value.code == "tile_file_unavailable"


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.pwrite

    def short(fd: int, data: bytes, offset: int) -> int:
        return real(fd, bytes(data[:1000]), offset)

    monkeypatch.setattr(tilefile.os, "pwrite", short)
    f = open_writer(tmp_path / "t")
    f.append(0, [slot_bytes(0), slot_bytes(1)])
    f.sync()
    assert [f.read(i) for i in range(2)] == [slot_bytes(0), slot_bytes(1)]
    f.close()


def test_after_a_refused_write_nothing_unsynced_is_used_or_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t"
    f = open_writer(path)
    f.append(0, [slot_bytes(0)])
    f.sync()
    f.append(1, [slot_bytes(1)])

    def refused(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(tilefile, "_datasync", refused)
    with pytest.raises(OSError):
        f.sync()
    # The refused sync stopped the writing at once, before anyone could sync again.
    assert f.count == 1 and f.slot(1) is None and not f.writable
    monkeypatch.undo()
    f.sync()  # as another thread would next: it must not count slot 1
    f.close()
    assert TileNodeFile(path, ORIGIN, writable=False).count == 1


def test_a_full_disk_is_not_hidden_by_a_sparse_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tilefile.os, "posix_fallocate", full)
    f = open_writer(tmp_path / "t")
    with pytest.raises(OSError):
        f.append(0, [slot_bytes(0)])
    assert f.count == 0


def test_views_follow_a_coarser_mapping_granularity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tilefile, "WINDOW_SLOTS", 3)
    monkeypatch.setattr(tilefile.mmap, "ALLOCATIONGRANULARITY", 65536)
    offsets = []
    real = mmap.mmap

    def aligned(fd: int, length: int, **kwargs: int) -> mmap.mmap:
        offsets.append(kwargs["offset"])
        return real(fd, length, **kwargs)

    monkeypatch.setattr(tilefile.mmap, "mmap", aligned)
    f = open_writer(tmp_path / "t")
    f.append(0, [slot_bytes(i) for i in range(8)])
    assert [bytes(f.slot(i) or b"") for i in range(8)] == [slot_bytes(i) for i in range(8)]
    f.close()
    assert len(offsets) == 3 and all(o % 65536 == 0 for o in offsets)


def test_a_file_that_cannot_be_mapped_gives_no_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = open_writer(tmp_path / "t")
    f.append(0, [slot_bytes(0)])

    def no_more(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(tilefile.mmap, "mmap", no_more)
    assert f.slot(0) is None  # the log then reads the database
    assert f.read(0) == slot_bytes(0)
    f.close()


def test_a_closed_file_gives_nothing_and_its_views_stay_valid(tmp_path: Path) -> None:
    f = open_writer(tmp_path / "t")
    f.append(0, [slot_bytes(0), slot_bytes(1)])
    view = f.slot(0)
    f.close()
    assert view is not None and bytes(view) == slot_bytes(0)
    assert f.slot(1) is None and f.read(1) is None and f.refresh() == 2
    assert f.read_ahead(0, 2, bytearray(SLOT_SIZE)) == 0


def test_a_reader_follows_the_header_down_and_leaves_another_logs_file(tmp_path: Path) -> None:
    path = tmp_path / "t"
    f = open_writer(path)
    f.append(0, [slot_bytes(i) for i in range(3)])
    f.sync()
    reader = TileNodeFile(path, ORIGIN, writable=False)
    assert reader.count == 3
    f.reset(1)  # the writer found its slots wrong: it lowers the count first
    assert reader.refresh() == 1 and reader.slot(2) is None
    f.close()
    other = open_writer(path, "other.example/log")  # another log's writer takes the file
    other.append(0, [slot_bytes(7)])
    other.sync()
    assert reader.refresh() == 0 and reader.slot(0) is None
    other.close()
    reader.close()


def test_a_refused_write_stops_the_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t"
    f = open_writer(path)
    f.append(0, [slot_bytes(0)])
    f.sync()
    f.append(1, [slot_bytes(1)])  # written, not synced

    def refused(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(tilefile.os, "pwrite", refused)
    with pytest.raises(OSError):
        f.append(2, [slot_bytes(2)])
    monkeypatch.undo()
    assert not f.writable and f.count == 1 and f.slot(1) is None
    f.sync()
    f.close()
    assert TileNodeFile(path, ORIGIN, writable=False).count == 1


def test_a_slot_that_cannot_be_read_whole_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = open_writer(tmp_path / "t")
    f.append(0, [slot_bytes(0)])
    real = os.pread

    def failing(fd: int, n: int, offset: int) -> bytes:
        if offset >= HEADER_SIZE:
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, n, offset)

    monkeypatch.setattr(tilefile.os, "pread", failing)
    assert f.read(0) is None
    monkeypatch.setattr(tilefile.os, "pread", lambda fd, n, offset: real(fd, n - 1, offset))
    assert f.read(0) is None
    monkeypatch.undo()
    assert f.read(0) == slot_bytes(0)
    f.close()
