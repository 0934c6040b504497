"""The log's rules on SQLite and PostgreSQL: append, idempotency, integration, tiles,
proofs, restart, and the start-up integrity check."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from pel.ledger.errors import BatchError, IntegrityError
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.memory import DictHashReader
from pel.ledger.merkle.proof import verify_consistency, verify_inclusion
from pel.ledger.merkle.tiles import TILE_WIDTH, decode_entry_bundle, full_tile_nodes
from pel.ledger.storage import tilefile
from pel.ledger.storage.sql_tiles import SqlTileSource
from pel.ledger.storage.tilefile import (
    HEADER_SIZE,
    MAGIC,
    SLOT_SIZE,
    TileNodeFile,
    _header_fields,
)
from pel.ledger.tlog.log import Log
from pel.node.agency_node import Node
from pel.node.demo.synth import synth_drafts
from tests import factories as f
from tests.treehash import mth


def fill(node: Node, count: int, *, seed: int = 1, batch: int = 250) -> list[int]:
    drafts = list(synth_drafts(node.agency, count, seed=seed))
    sizes = []
    for i in range(0, count, batch):
        node.submit(drafts[i : i + batch])
        cp = node.log.integrate()
        assert cp is not None
        sizes.append(cp.checkpoint.size)
    return sizes


def all_entries(node: Node) -> list[bytes]:
    return node.log.entries(0, node.log.state()[0])


def test_append_integrate_and_root(node_and_token: tuple[Node, str]) -> None:
    node, _ = node_and_token
    assert node.log.integrate() is None  # nothing new: no checkpoint
    appended = node.submit([f.contribution() for _ in range(5)])
    assert [a.index for a in appended] == [0, 1, 2, 3, 4]
    assert node.log.state() == (5, 0)
    cp = node.log.integrate()
    assert cp is not None and cp.checkpoint.size == 5
    entries = all_entries(node)
    assert cp.checkpoint.root == mth(entries)
    assert [a.leaf_hash for a in appended] == [hash_leaf(e) for e in entries]
    assert cp.note.startswith(b"perkeso.gov.my/pel\n5\n")
    assert node.log.integrate() is None


def test_idempotency_and_conflict(node_and_token: tuple[Node, str]) -> None:
    node, _ = node_and_token
    signed = [node.prepare(f.contribution(), now="2026-11-22T00:00:00Z") for _ in range(3)]
    first = node.log.append(signed)
    again = node.log.append(signed)
    assert [a.index for a in again] == [a.index for a in first]
    assert all(a.duplicate for a in again)
    assert node.log.state()[0] == 3

    # A draft without issued_at resubmitted later is still the same record.
    draft = f.contribution()
    del draft["issued_at"]
    one = node.submit([draft])[0]
    two = node.submit([draft])[0]
    assert one.index == two.index == 3 and two.duplicate

    # The same id with other content: the whole batch is refused, nothing appended.
    changed = dict(draft, body=dict(draft["body"], insured_earnings="9999.00"))
    with pytest.raises(BatchError) as info:
        node.submit([f.contribution(), changed])
    assert info.value.http_status == 409 and info.value.code == "conflict"
    assert [p for p, _ in info.value.problems] == [1]
    assert node.log.state()[0] == 4

    # Same id twice in one batch with different content.
    twin = f.contribution()
    with pytest.raises(BatchError):
        node.submit([twin, dict(twin, pwid=f.PWID2)])
    assert node.log.state()[0] == 4


def test_batch_is_all_or_nothing(node_and_token: tuple[Node, str]) -> None:
    node, _ = node_and_token
    bad = f.contribution(body={"period": "2026-13"})
    with pytest.raises(BatchError) as info:
        node.submit([f.contribution(), bad, f.contribution(type="pension")])
    assert info.value.http_status == 422
    codes = {p: e.code for p, e in info.value.problems}
    assert codes == {1: "bad_period", 2: "unknown_type"}
    assert node.log.state() == (0, 0)


def test_amendments_must_name_a_record_of_this_log(node_and_token: tuple[Node, str]) -> None:
    node, _ = node_and_token
    target = f.contribution()
    with pytest.raises(BatchError) as info:
        node.submit([f.amendment(target)])
    assert info.value.problems[0][1].code == "unknown_target"
    # Target earlier in the same batch is fine; a wrong pwid is not.
    node.submit([target, f.amendment(target)])
    with pytest.raises(BatchError) as info:
        node.submit([f.revocation(target, pwid=f.PWID2)])
    assert info.value.problems[0][1].code == "pwid_mismatch"
    assert node.log.state()[0] == 2


def test_tiles_bundles_and_proofs(node_and_token: tuple[Node, str]) -> None:
    node, _ = node_and_token
    sizes = fill(node, 700, batch=230)  # crosses tile boundaries at odd sizes
    entries = all_entries(node)
    tree = DictHashReader()
    tree.extend([hash_leaf(e) for e in entries])
    size = sizes[-1]
    assert node.log.root(size) == mth(entries) == tree.root()
    # Level-0 tiles are the leaf hashes; bundles are the entries.
    full = node.log.tile(0, 1)
    assert full == b"".join(hash_leaf(e) for e in entries[256:512])
    assert node.log.tile(0, 2, 700 - 512) == b"".join(hash_leaf(e) for e in entries[512:700])
    assert decode_entry_bundle(node.log.entry_bundle(1)) == entries[256:512]
    assert decode_entry_bundle(node.log.entry_bundle(2, 10)) == entries[512:522]
    # Partial tiles of earlier checkpoints are prefixes of the current one.
    assert node.log.tile(0, 0, 230) == full_tile_0(entries)[: 230 * 32]
    for index in (0, 1, 255, 256, 511, 699):
        for s in sizes:
            if index < s:
                proof = node.log.inclusion_proof(index, s)
                verify_inclusion(index, s, hash_leaf(entries[index]), proof, mth(entries[:s]))
    for a in sizes:
        for b in sizes:
            if a <= b:
                proof = node.log.consistency_proof(a, b)
                verify_consistency(a, b, mth(entries[:a]), mth(entries[:b]), proof)


def test_full_tiles_inner_nodes_are_stored_and_proofs_work_without_them(
    node_and_token: tuple[Node, str],
) -> None:
    node, _ = node_and_token
    sizes = fill(node, 800, batch=400)
    entries = all_entries(node)
    with node.engine.connect() as conn:
        stored = {
            (lv, i): bytes(d)
            for lv, i, d in conn.execute(text("SELECT level, idx, data FROM tile_nodes"))
        }
    if node.log.tile_file_path is None:  # PostgreSQL: rows
        assert sorted(stored) == [(0, 0), (0, 1), (0, 2)]  # the full tiles, and only those
    else:  # SQLite: the tile-node file instead of rows
        assert stored == {}
        node.log.close()  # syncs the file: another process sees its slots
        file = TileNodeFile(node.log.tile_file_path, node.log.origin, writable=False)
        stored = {(0, i): (file.read(i) or b"")[TILE_WIDTH * 32 :] for i in range(3)}
        assert file.read(3) is None
        file.close()
    for (_, i), inner in stored.items():
        assert inner == full_tile_nodes(node.log.tile(0, i))[0]
    size = sizes[-1]
    for index in (0, 3, 255, 256, 600, 767, 768, size - 1):
        proof = node.log.inclusion_proof(index, size)
        verify_inclusion(index, size, hash_leaf(entries[index]), proof, mth(entries))
    # A log written before inner nodes were stored: every tile is rehashed instead.
    node.stop()
    with node.engine.begin() as conn:
        conn.execute(text("DELETE FROM tile_nodes"))
    if node.log.tile_file_path is not None:
        node.log.tile_file_path.unlink()
    older = Node.open(node.directory)
    try:
        older.check(full=True)
        for index in (0, 3, 255, 600, size - 1):
            proof = older.log.inclusion_proof(index, size)
            verify_inclusion(index, size, hash_leaf(entries[index]), proof, mth(entries))
    finally:
        older.stop()


def full_tile_0(entries: list[bytes]) -> bytes:
    return b"".join(hash_leaf(e) for e in entries[:TILE_WIDTH])


def test_reads_beyond_the_checkpoint_are_refused(node_and_token: tuple[Node, str]) -> None:
    from pel.ledger.errors import NotFoundError

    node, _ = node_and_token
    fill(node, 300, batch=300)
    node.submit([f.contribution()])  # sequenced, not yet integrated
    for call in (
        lambda: node.log.tile(0, 1),
        lambda: node.log.tile(0, 1, 45),
        lambda: node.log.entry_bundle(1, 45),
        lambda: node.log.inclusion_proof(300, 301),
        lambda: node.log.consistency_proof(1, 301),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_restart_continues_consistently(node_and_token: tuple[Node, str], tmp_path) -> None:
    node, _ = node_and_token
    fill(node, 300, batch=150)
    first = node.log.latest()
    node.stop()
    again = Node.open(node.directory)
    try:
        again.check()
        fill(again, 260, seed=2, batch=260)
        latest = again.log.latest()
        entries = all_entries(again)
        assert latest.checkpoint.root == mth(entries)
        proof = again.log.consistency_proof(first.checkpoint.size, latest.checkpoint.size)
        verify_consistency(
            first.checkpoint.size,
            latest.checkpoint.size,
            first.checkpoint.root,
            latest.checkpoint.root,
            proof,
        )
    finally:
        again.stop()


def _flip(node: Node, sql: str, **params: object) -> None:
    with node.engine.begin() as conn:
        data = bytearray(conn.execute(text(sql.split(";")[0]), params).scalar_one())
        data[params.get("pos", 0) % len(data)] ^= 0x01  # type: ignore[operator]
        conn.execute(text(sql.split(";")[1]), {**params, "data": bytes(data)})


def _flip_slot(path: Path, index: int, pos: int) -> None:
    """Change one bit of a tile-node file's slot ``index``, at ``pos`` in its used bytes."""
    with open(path, "r+b") as raw:
        raw.seek(HEADER_SIZE + index * SLOT_SIZE + pos)
        byte = raw.read(1)[0]
        raw.seek(-1, 1)
        raw.write(bytes([byte ^ 1]))


TAMPER = {
    "entry": "SELECT data FROM entries WHERE idx=:i; UPDATE entries SET data=:data WHERE idx=:i",
    "tile0": "SELECT data FROM tiles WHERE level=0 AND idx=:i; "
    "UPDATE tiles SET data=:data WHERE level=0 AND idx=:i",
    "tile_nodes0": "SELECT data FROM tile_nodes WHERE level=0 AND idx=:i; "
    "UPDATE tile_nodes SET data=:data WHERE level=0 AND idx=:i",
    "tile1": "SELECT data FROM tiles WHERE level=1 AND idx=0; "
    "UPDATE tiles SET data=:data WHERE level=1 AND idx=0",
    "checkpoint": "SELECT note FROM checkpoints WHERE size=:size; "
    "UPDATE checkpoints SET note=:data WHERE size=:size",
    "old_checkpoint_root": "SELECT root FROM checkpoints WHERE size=:old; "
    "UPDATE checkpoints SET root=:data WHERE size=:old",
}


@pytest.mark.parametrize("what", sorted(TAMPER))
@pytest.mark.parametrize("pos", [0, 17, 200])
def test_startup_check_finds_any_changed_byte(
    node_and_token: tuple[Node, str], what: str, pos: int
) -> None:
    node, _ = node_and_token
    sizes = fill(node, 600, batch=300)
    node.check(full=True)
    in_file = what == "tile_nodes0" and node.log.tile_file_path is not None
    if in_file:
        # On SQLite, level-0 inner nodes are in the tile-node file: slot 0 (slot 1, the
        # last, is checked against the database at open and written again).
        node.log.close()  # syncs the file
        _flip_slot(node.log.tile_file_path, 0, TILE_WIDTH * 32 + pos)
    else:
        _flip(node, TAMPER[what], i=pos % 2, pos=pos, size=sizes[-1], old=sizes[0])
    reopened = Node.open(node.directory)
    try:
        if in_file:
            # Only ever a copy of the database, but changed behind the node's back: the
            # full check refuses it, and writes it again when asked to repair.
            with pytest.raises(IntegrityError, match="tile-node file") as caught:
                reopened.check(full=True)
            assert caught.value.code == "tile_file_damaged"
            report = reopened.check(full=True, repair=True)
            assert report.repaired == ["tile-node file written again from tile 0/0"]
            slot = reopened.log.tile_file().read(0)
            tile = reopened.log.tile(0, 0)
            assert slot == tile + full_tile_nodes(tile)[0]
            assert reopened.check(full=True).repaired == []
        else:
            with pytest.raises(IntegrityError):
                reopened.check(full=True)
    finally:
        reopened.stop()


def test_integration_with_and_without_the_held_leaf_hashes(
    node_and_token: tuple[Node, str],
) -> None:
    """The leaf hashes a log keeps from its own appends give the same tree as hashing
    the stored entries: also when another writer appended in between, when another
    integrator published first, and when integration is split."""
    from pel.ledger.tlog.log import Log

    node, _ = node_and_token
    log = node.log
    other = Log(node.engine, node.log_verifier, signer=node.log_signer)  # a second process
    drafts = list(synth_drafts(node.agency, 700, seed=5))
    node.submit(drafts[:100])
    assert log._held_leaves(0, 100) is not None
    assert other._held_leaves(0, 100) is None
    other.append([node.prepare(d, now="2026-11-22T00:00:00Z") for d in drafts[100:150]])
    node.submit(drafts[150:300])  # not contiguous with what this log holds: starts again
    assert log._held_leaves(0, 100) is None
    assert log._held_leaves(150, 300) is not None
    assert log.integrate(max_entries=120) is not None  # from the entries: 0..119
    cp = log.integrate()  # 120..299: partly held
    assert cp is not None and cp.checkpoint.size == 300
    assert log._held_leaves(150, 300) is None  # forgotten once integrated
    node.submit(drafts[300:500])
    assert other.integrate() is not None  # another integrator publishes first
    node.submit(drafts[500:700])
    cp = log.integrate()
    assert cp is not None and cp.checkpoint.size == 700
    assert cp.checkpoint.root == mth(all_entries(node))
    assert log.check_integrity(full=True) == cp.checkpoint
    # A log that only appends (no signer: it never integrates) keeps nothing.
    reader = Log(node.engine, node.log_verifier)
    reader.append([node.prepare(f.contribution(), now="2026-11-22T00:00:00Z")])
    assert reader._leaves == (0, [])


def test_warm_tiles_reads_every_stored_tile_and_inner_node(
    node_and_token: tuple[Node, str],
) -> None:
    node, _ = node_and_token
    assert list(node.log.warm_tiles()) == []  # nothing stored yet: nothing read
    fill(node, 1300, batch=650)  # five full level-0 tiles and a partial one, a level-1 tile
    with node.engine.connect() as conn:
        expected = sum(
            int(conn.execute(text(f"SELECT coalesce(sum(length(data)), 0) FROM {t}")).scalar())
            for t in ("tiles", "tile_nodes")
        )
    # A full tile's inner nodes: a row (8 128 bytes), or its slot in the tile-node file.
    nodes = 8128 if node.log.tile_file_path is None else SLOT_SIZE
    if nodes == SLOT_SIZE:
        expected += 5 * SLOT_SIZE
    read = list(node.log.warm_tiles(chunk=2))
    assert read == sorted(read) and len(read) > 3  # progress after each short read
    # Level 0: five full tiles and 20 hashes; level 1: five hashes; five tiles' inner nodes.
    assert read[-1] == expected == 5 * 8192 + 20 * 32 + 5 * 32 + 5 * nodes
    # The upper level first; a budget ends the pass after the read that reaches it.
    assert list(node.log.warm_tiles(chunk=2, budget=1)) == [5 * 32]
    assert list(node.log.warm_tiles(chunk=2, budget=200)) == [160, 160 + 2 * (8192 + nodes)]


# ---- the tile-node file (SQLite) -------------------------------------------------------


def _reader(node: Node) -> Log:
    """The log as another process opens it: no signer, the tile-node file read only."""
    return Log(node.engine, node.log_verifier)


def _slots(node: Node) -> list[bytes]:
    path = node.log.tile_file_path
    assert path is not None
    node.log.close()  # syncs what the log wrote (it opens the file again when needed)
    file = TileNodeFile(path, node.log.origin, writable=False)
    try:
        out = []
        while (slot := file.read(len(out))) is not None:
            out.append(slot)
        return out
    finally:
        file.close()


def _expected_slots(node: Node, entries: list[bytes]) -> list[bytes]:
    out = []
    for i in range(len(entries) // TILE_WIDTH):
        tile = b"".join(hash_leaf(e) for e in entries[i * TILE_WIDTH : (i + 1) * TILE_WIDTH])
        out.append(tile + full_tile_nodes(tile)[0])
    return out


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[int, int]]]:
    calls: list[list[tuple[int, int]]] = []
    original = SqlTileSource._read

    def counting(self: SqlTileSource, coords, *, nodes):  # type: ignore[no-untyped-def]
        if nodes:  # a proof's read (the file's check at open reads one tile alone)
            calls.append(list(coords))
        return original(self, coords, nodes=nodes)

    monkeypatch.setattr(SqlTileSource, "_read", counting)
    return calls


def test_cold_proofs_map_the_tile_file_and_read_no_level_0_tile(
    sqlite_node: tuple[Node, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, _ = sqlite_node
    size = fill(node, 1300, batch=650)[-1]  # five full level-0 tiles
    entries = all_entries(node)
    assert _slots(node) == _expected_slots(node, entries)
    node.stop()  # its file is synced
    calls = _count_reads(monkeypatch)
    reader = _reader(node)
    for index in (0, 255, 256, 700, 1279, 1280, 1299):
        proof = reader.inclusion_proof(index, size)
        verify_inclusion(index, size, hash_leaf(entries[index]), proof, mth(entries))
    read = {c for call in calls for c in call}
    assert read <= {(0, 5), (1, 0)}  # the partial tiles; never a full level-0 one
    # Without the file, the same proofs read those tiles.
    reader.close()
    assert node.log.tile_file_path is not None
    node.log.tile_file_path.rename(node.log.tile_file_path.with_suffix(".away"))
    calls.clear()
    without = _reader(node)
    for index in (0, 700):
        proof = without.inclusion_proof(index, size)
        verify_inclusion(index, size, hash_leaf(entries[index]), proof, mth(entries))
    assert {(0, 0), (0, 2)} <= {c for call in calls for c in call}
    without.close()


def test_a_crash_before_the_file_is_synced_is_mended_from_the_database(
    sqlite_node: tuple[Node, str],
) -> None:
    node, _ = sqlite_node
    fill(node, 800, batch=400)  # three full tiles
    node.stop()
    path = node.log.tile_file_path
    assert path is not None
    # As after a crash: the header counts one synced slot; the next two are torn.
    entries = all_entries(node)
    origin_hash = hashlib.sha256(node.log.origin.encode()).digest()
    with open(path, "r+b") as raw:
        raw.seek(len(MAGIC))
        raw.write(_header_fields(1, origin_hash, mth(entries[:TILE_WIDTH])))
        raw.seek(HEADER_SIZE + SLOT_SIZE)
        raw.write(b"\xff" * (2 * SLOT_SIZE))
    again = Node.open(node.directory)
    try:
        file = again.log.tile_file()
        assert file is not None and file.count == 1  # the synced slot is trusted
        reader = _reader(again)
        size = len(entries)
        proof = reader.inclusion_proof(300, size)  # tile 1: not trusted, read from the database
        verify_inclusion(300, size, hash_leaf(entries[300]), proof, mth(entries))
        reader.close()
        fill(again, 300, seed=2, batch=300)  # completes tile 3: tiles 1 and 2 written first
        entries = all_entries(again)
        assert _slots(again) == _expected_slots(again, entries)
        again.check(full=True)
    finally:
        again.stop()


def test_a_file_that_disagrees_with_the_database_is_not_used_and_written_again(
    sqlite_node: tuple[Node, str],
) -> None:
    node, _ = sqlite_node
    fill(node, 800, batch=400)
    node.stop()
    assert node.log.tile_file_path is not None
    _flip_slot(node.log.tile_file_path, 2, 5)  # the last slot's leaf hashes
    entries = all_entries(node)
    size = len(entries)
    reader = _reader(node)
    proof = reader.inclusion_proof(513, size)  # the file is left alone: right proofs
    verify_inclusion(513, size, hash_leaf(entries[513]), proof, mth(entries))
    reader.close()
    again = Node.open(node.directory)  # the integrator: no slot trusted, all written again
    try:
        list(again.log.warm_tiles())
        assert _slots(again) == _expected_slots(again, entries)
        again.check(full=True)
    finally:
        again.stop()


def test_a_database_restored_from_before_has_the_file_written_again(
    sqlite_node: tuple[Node, str],
) -> None:
    node, _ = sqlite_node
    fill(node, 300, batch=300)  # one full tile
    db = node.engine.url.database
    assert db is not None
    backup = db + ".backup"
    with sqlite3.connect(db) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    fill(node, 500, seed=2, batch=500)  # three full tiles in the file
    node.stop()
    node.engine.dispose()
    for suffix in ("-wal", "-shm"):
        Path(db + suffix).unlink(missing_ok=True)
    Path(backup).replace(db)
    reader = _reader(node)
    assert reader.tile_file() is None  # three slots, one full tile in the database
    reader.close()
    again = Node.open(node.directory)
    try:
        file = again.log.tile_file()
        assert file is not None and file.count == 0  # none is trusted: all written again
        fill(again, 500, seed=3, batch=500)  # other records where tiles 1 and 2 were
        entries = all_entries(again)
        assert _slots(again) == _expected_slots(again, entries)
        again.check(full=True)
        size = len(entries)
        reader = _reader(again)
        for index in (10, 300, 700):
            proof = reader.inclusion_proof(index, size)
            verify_inclusion(index, size, hash_leaf(entries[index]), proof, mth(entries))
        reader.close()
    finally:
        again.stop()


def test_an_older_log_is_caught_up_by_the_read_ahead_pass(sqlite_node: tuple[Node, str]) -> None:
    node, _ = sqlite_node
    fill(node, 1300, batch=650)
    node.stop()
    assert node.log.tile_file_path is not None
    node.log.tile_file_path.unlink()  # a log written before the file
    again = Node.open(node.directory)
    try:
        entries = all_entries(again)
        assert again.log.tile_file_path is not None
        assert list(again.log.warm_tiles(chunk=2))[-1] > 5 * SLOT_SIZE
        assert _slots(again) == _expected_slots(again, entries)
        again.check(full=True)
    finally:
        again.stop()


def test_a_failing_tile_file_never_fails_an_integration(
    sqlite_node: tuple[Node, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, _ = sqlite_node
    fill(node, 300, batch=300)

    def refused(self: TileNodeFile, first: int, slots: list[bytes]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TileNodeFile, "append", refused)
    sizes = fill(node, 500, seed=2, batch=250)  # completes tiles 1 and 2: not written
    assert node.log.latest() is not None and node.log.tree_size() == sizes[-1] == 800
    file = node.log.tile_file()
    assert file is not None and not file.writable and file.count == file.synced <= 1
    entries = all_entries(node)
    for index in (10, 300, 700):
        proof = node.log.inclusion_proof(index, 800)
        verify_inclusion(index, 800, hash_leaf(entries[index]), proof, mth(entries))
    node.check(full=True)


def test_a_file_that_is_not_a_tile_node_file_is_left_alone(sqlite_node: tuple[Node, str]) -> None:
    node, _ = sqlite_node
    node.stop()
    path = node.log.tile_file_path
    assert path is not None
    path.unlink(missing_ok=True)
    path.write_bytes(b"someone else's data\n" * 1000)
    again = Node.open(node.directory)
    try:
        fill(again, 600, batch=300)
        entries = all_entries(again)
        assert again.log.tile_file() is None
        proof = again.log.inclusion_proof(5, 600)
        verify_inclusion(5, 600, hash_leaf(entries[5]), proof, mth(entries))
        again.check(full=True)
    finally:
        again.stop()
    assert path.read_bytes() == b"someone else's data\n" * 1000


def test_a_reader_changes_nothing_in_the_file(sqlite_node: tuple[Node, str]) -> None:
    node, _ = sqlite_node
    fill(node, 800, batch=400)
    node.stop()
    path = node.log.tile_file_path
    assert path is not None
    before = path.read_bytes()
    reader = _reader(node)
    entries = all_entries(node)
    for index in (0, 300, 799):
        proof = reader.inclusion_proof(index, 800)
        verify_inclusion(index, 800, hash_leaf(entries[index]), proof, mth(entries))
    assert reader.check_integrity(full=True) is not None
    list(reader.warm_tiles())
    reader.close()
    assert path.read_bytes() == before


def test_a_header_whose_root_is_not_the_databases_is_not_trusted(
    sqlite_node: tuple[Node, str],
) -> None:
    node, _ = sqlite_node
    fill(node, 800, batch=400)
    node.stop()
    path = node.log.tile_file_path
    assert path is not None
    origin_hash = hashlib.sha256(node.log.origin.encode()).digest()
    with open(path, "r+b") as raw:  # well formed: the right count, another tree's root
        raw.seek(len(MAGIC))
        raw.write(_header_fields(3, origin_hash, hashlib.sha256(b"another tree").digest()))
    reader = _reader(node)
    assert reader.tile_file() is None  # a reader leaves it alone
    reader.close()
    again = Node.open(node.directory)
    try:
        file = again.log.tile_file()
        assert file is not None and file.count == 0  # the writer writes it all again
        list(again.log.warm_tiles())
        assert _slots(again) == _expected_slots(again, all_entries(again))
        assert again.log.tile_file() is not None
    finally:
        again.stop()
    reopened = _reader(node)
    file = reopened.tile_file()
    assert file is not None and file.count == 3
    reopened.close()


def test_proofs_integration_and_the_read_ahead_pass_at_once(sqlite_node: tuple[Node, str]) -> None:
    """Threads as in a serving node: one appends and integrates, one proves, one runs the
    read-ahead pass (which writes missing slots); every proof verifies, the file ends
    equal to the database's tiles."""
    node, _ = sqlite_node
    fill(node, 600, batch=300)
    node.log.close()
    assert node.log.tile_file_path is not None
    node.log.tile_file_path.unlink()  # the pass has slots to write while the others run
    drafts = list(synth_drafts(node.agency, 3000, seed=9))
    errors: list[BaseException] = []
    done = threading.Event()

    def writing() -> None:
        try:
            for i in range(0, len(drafts), 250):
                node.submit(drafts[i : i + 250])
                node.log.integrate()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def proving() -> None:
        rng = random.Random(3)
        try:
            for _ in range(400):
                latest = node.log.latest()
                assert latest is not None
                size = latest.checkpoint.size
                index = rng.randrange(size)
                proof = node.log.inclusion_proof(index, size)
                verify_inclusion(
                    index, size, hash_leaf(node.log.entry(index)), proof, latest.checkpoint.root
                )
                if done.is_set():
                    break
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def warming() -> None:
        try:
            for _ in range(20):
                list(node.log.warm_tiles(chunk=2))
                if done.is_set():
                    break
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=t) for t in (writing, proving, warming)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads) and errors == []
    list(node.log.warm_tiles())
    assert _slots(node) == _expected_slots(node, all_entries(node))
    node.check(full=True)


def test_a_tile_file_that_cannot_be_created_or_read_fails_nothing(
    sqlite_node: tuple[Node, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, _ = sqlite_node
    fill(node, 300, batch=300)
    node.stop()
    assert node.log.tile_file_path is not None
    node.log.tile_file_path.unlink()
    real_pwrite = tilefile.os.pwrite

    def full_disk(fd: int, data: bytes, offset: int) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tilefile.os, "pwrite", full_disk)  # the new file's header
    again = Node.open(node.directory)
    try:
        sizes = fill(again, 300, seed=2, batch=300)  # integrations publish all the same
        entries = all_entries(again)
        assert sizes == [600] and again.log.tile_file() is None
        for index in (5, 300, 599):
            proof = again.log.inclusion_proof(index, 600)
            verify_inclusion(index, 600, hash_leaf(entries[index]), proof, mth(entries))
        again.check(full=True)
    finally:
        again.stop()
    monkeypatch.setattr(tilefile.os, "pwrite", real_pwrite)
    writer = Node.open(node.directory)
    list(writer.log.warm_tiles())
    writer.stop()

    def unreadable(fd: int, n: int, offset: int) -> bytes:
        raise OSError(5, "Input/output error")

    reader = _reader(node)
    assert reader.tile_file() is not None
    monkeypatch.setattr(tilefile.os, "pread", unreadable)
    for index in (5, 599):  # tile 2 is partial: the header is read again, and fails
        proof = reader.inclusion_proof(index, 600)
        verify_inclusion(index, 600, hash_leaf(entries[index]), proof, mth(entries))
    reader.close()


def test_close_gives_every_connection_back(sqlite_node: tuple[Node, str]) -> None:
    node, _ = sqlite_node
    fill(node, 600, batch=300)  # slots written, not yet synced: close syncs them
    node.log.inclusion_proof(3, 600)
    node.log.close()
    assert node.engine.pool.checkedout() == 0
    reopened = _reader(node)
    file = reopened.tile_file()
    assert file is not None and file.count == 2
    reopened.close()
    assert node.engine.pool.checkedout() == 0


def test_after_a_refused_sync_the_proofs_read_the_database(
    sqlite_node: tuple[Node, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, _ = sqlite_node
    fill(node, 600, batch=300)
    calls = _count_reads(monkeypatch)
    entries = all_entries(node)
    node.log.inclusion_proof(300, 600)  # tile 1's view cached (written, not yet synced)
    assert not [c for call in calls for c in call if c == (0, 1)]

    def refused(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(tilefile, "_datasync", refused)
    file = node.log.tile_file()
    assert file is not None
    file._synced_at = 0.0  # due for a sync at the next integration
    fill(node, 300, seed=2, batch=300)  # completes tile 2; its sync is refused
    assert not file.writable and file.count == file.synced == 0
    calls.clear()
    entries = all_entries(node)
    proof = node.log.inclusion_proof(300, 900)
    verify_inclusion(300, 900, hash_leaf(entries[300]), proof, mth(entries))
    assert (0, 1) in {c for call in calls for c in call}  # the view was dropped: read again


def test_a_reader_whose_file_cannot_be_read_still_checks_the_log(
    sqlite_node: tuple[Node, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, _ = sqlite_node
    fill(node, 600, batch=300)
    node.stop()
    reader = _reader(node)
    assert reader.tile_file() is not None
    real = tilefile.os.pread

    def failing(fd: int, n: int, offset: int) -> bytes:
        if offset >= HEADER_SIZE:
            raise OSError(5, "Input/output error")
        return real(fd, n, offset)

    monkeypatch.setattr(tilefile.os, "pread", failing)
    assert reader.check_integrity(full=True) is not None
    reader.close()
