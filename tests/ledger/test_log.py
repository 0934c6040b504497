"""The log's rules on SQLite and PostgreSQL: append, idempotency, integration, tiles,
proofs, restart, and the start-up integrity check."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger.errors import BatchError, IntegrityError
from ledger.merkle.hashing import hash_leaf
from ledger.merkle.memory import DictHashReader
from ledger.merkle.proof import verify_consistency, verify_inclusion
from ledger.merkle.tiles import TILE_WIDTH, decode_entry_bundle, full_tile_nodes
from node.node import Node
from node.synth import synth_drafts
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
        node.submit([twin, dict(twin, subject=f.PWID2)])
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
    # Target earlier in the same batch is fine; a wrong subject is not.
    node.submit([target, f.amendment(target)])
    with pytest.raises(BatchError) as info:
        node.submit([f.revocation(target, subject=f.PWID2)])
    assert info.value.problems[0][1].code == "subject_mismatch"
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
    assert sorted(stored) == [(0, 0), (0, 1), (0, 2)]  # the full tiles, and only those
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
    from ledger.errors import NotFoundError

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
    _flip(node, TAMPER[what], i=pos % 2, pos=pos, size=sizes[-1], old=sizes[0])
    reopened = Node.open(node.directory)
    try:
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
    from ledger.log import Log

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
    read = list(node.log.warm_tiles(chunk=2))
    assert read == sorted(read) and len(read) > 3  # progress after each short read
    # Level 0: five full tiles and 20 hashes; level 1: five hashes; five tiles' inner nodes.
    assert read[-1] == expected == 5 * 8192 + 20 * 32 + 5 * 32 + 5 * 8128
    # The upper level first; a budget ends the pass after the read that reaches it.
    assert list(node.log.warm_tiles(chunk=2, budget=1)) == [5 * 32]
    assert list(node.log.warm_tiles(chunk=2, budget=200)) == [160, 160 + 2 * (8192 + 8128)]
