"""The tile-node file on its own: slots in order, mapped views, the synced count that
another process and a restart trust, growth, and files that are not this log's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.merkle.tiles import full_tile_nodes
from ledger.storage import tilefile
from ledger.storage.engine import StorageError
from ledger.storage.tilefile import (
    HEADER_SIZE,
    NODES_SIZE,
    SLOT_SIZE,
    TileNodeFile,
    tile_file_path,
)

ORIGIN = "perkeso.gov.my/pel"


def slot_bytes(seed: int) -> bytes:
    tile = b"".join(seed.to_bytes(4, "big") + i.to_bytes(28, "big") for i in range(256))
    return tile + full_tile_nodes(tile)[0]


def test_the_path_is_beside_a_database_file_only() -> None:
    assert tile_file_path("/var/pel/pel.db") == Path("/var/pel/pel.db-tiles")
    assert tile_file_path(None) is None
    assert tile_file_path(":memory:") is None
    assert tile_file_path("file:x?mode=memory") is None


def test_slots_are_mapped_as_written_and_refused_out_of_order(tmp_path: Path) -> None:
    f = TileNodeFile(tmp_path / "t", ORIGIN, writable=True)
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
    writer = TileNodeFile(path, ORIGIN, writable=True)
    writer.append(0, [slot_bytes(i) for i in range(5)])
    reader = TileNodeFile(path, ORIGIN, writable=False)
    assert reader.count == 0 and reader.slot(0) is None  # written, not yet synced
    writer.sync()
    assert reader.slot(4) is not None and reader.count == 5  # the header is read again
    writer.append(5, [slot_bytes(5), slot_bytes(6)])
    writer.sync(every=3600)  # synced a moment ago: not again
    assert reader.slot(5) is None
    # A crash now: the writer never syncs again. A restart trusts the five synced slots.
    again = TileNodeFile(path, ORIGIN, writable=True)
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
    f = TileNodeFile(path, ORIGIN, writable=True)
    f.append(0, [slot_bytes(i) for i in range(3)])
    f.sync()
    size = path.stat().st_size
    assert size == HEADER_SIZE + tilefile.GROW_SLOTS * SLOT_SIZE  # grown a step at a time
    f.reset(1)
    assert f.count == f.synced == 1 and path.stat().st_size == size
    assert TileNodeFile(path, ORIGIN, writable=False).count == 1
    reader = TileNodeFile(path, ORIGIN, writable=False)
    with pytest.raises(StorageError, match="reading only"):
        reader.append(1, [slot_bytes(1)])
    with pytest.raises(StorageError, match="reading only"):
        reader.reset(0)
    f.close()


def test_a_header_beyond_the_file_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "t"
    f = TileNodeFile(path, ORIGIN, writable=True)
    f.append(0, [slot_bytes(0)])
    f.close()
    with open(path, "r+b") as raw:
        raw.seek(len(tilefile.MAGIC))
        raw.write((10**6).to_bytes(8, "big"))
    assert TileNodeFile(path, ORIGIN, writable=False).count == tilefile.GROW_SLOTS


def test_files_that_are_not_this_logs(tmp_path: Path) -> None:
    other = tmp_path / "other"
    f = TileNodeFile(other, "other.example/log", writable=True)
    f.append(0, [slot_bytes(0)])
    f.close()
    with pytest.raises(StorageError) as info:
        TileNodeFile(other, ORIGIN, writable=False)
    assert info.value.code == "foreign_tile_file"
    claimed = TileNodeFile(other, ORIGIN, writable=True)
    assert claimed.count == 0  # its slots are written again
    claimed.close()
    assert TileNodeFile(other, ORIGIN, writable=False).count == 0

    junk = tmp_path / "junk"
    junk.write_bytes(b"not a tile-node file" * 300)
    for writable in (False, True):
        with pytest.raises(StorageError) as info:
            TileNodeFile(junk, ORIGIN, writable=writable)
        assert info.value.code == "bad_tile_file"
    assert junk.read_bytes() == b"not a tile-node file" * 300  # left as it was


def test_views_made_before_a_window_is_mapped_again_stay_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tilefile, "WINDOW_SLOTS", 4)
    monkeypatch.setattr(tilefile, "GROW_SLOTS", 2)
    f = TileNodeFile(tmp_path / "t", ORIGIN, writable=True)
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
        f = TileNodeFile(path, ORIGIN, writable=True)
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
