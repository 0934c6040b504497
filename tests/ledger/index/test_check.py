"""Stored index nodes checked against the signed root: the whole tree in level order
(start-up), the nodes one read fetched (the integrator), and the proof served from an
older tree."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import text

from pel.ledger.errors import DamagedLogError, IntegrityError
from pel.ledger.index import EMPTY, MemoryIndex, Node, Path, key_of, value_hash
from pel.ledger.index.check import IndexTreeError, TreeCheck, check_read
from pel.ledger.index.tree import path_of
from pel.ledger.storage.index_nodes import encode_path
from pel.node.agency_node import Node as AgencyNode
from tests.ledger.index.test_log_index import pw, submit


def built(count: int = 60) -> tuple[MemoryIndex, bytes]:
    index = MemoryIndex()
    for i in range(count):
        index.add(i, f"P{i % 23}")
    return index, index.root()


def level_order(nodes: dict[Path, Node]) -> list[tuple[Path, Node]]:
    return sorted(nodes.items())


def values(index: MemoryIndex) -> dict[bytes, bytes]:
    return {key_of(p): value_hash(v) for p, v in index.lists.items()}


def run(nodes: list[tuple[Path, Node]], root: bytes, vals: dict[bytes, bytes] | None) -> None:
    check = TreeCheck(root, vals)
    for path, node in nodes:
        check.add(path, node)
    check.finish()


def test_the_tree_as_built_passes_with_its_lists() -> None:
    index, root = built()
    run(level_order(index.nodes), root, values(index))
    run([], EMPTY, {})


def test_any_change_to_a_node_is_found() -> None:
    index, root = built()
    nodes = level_order(index.nodes)
    leaf = next(i for i, (_, n) in enumerate(nodes) if n.key is not None and i > 3)
    inner = next(i for i, (p, n) in enumerate(nodes) if n.key is None and p[0] > 2)
    path, node = nodes[leaf]
    assert node.key is not None
    changes = {
        "root": (0, dataclasses.replace(nodes[0][1], hash=bytes(32))),
        "inner": (inner, dataclasses.replace(nodes[inner][1], hash=bytes(32))),
        "value": (leaf, dataclasses.replace(node, value=bytes(32))),
        "value and hash": (leaf, Node.leaf(node.key, bytes(32))),
    }
    for name, (at, changed) in changes.items():
        tampered = list(nodes)
        tampered[at] = (tampered[at][0], changed)
        with pytest.raises(IndexTreeError):
            run(tampered, root, values(index))
        if name != "value and hash":  # that one changes the list only: the root catches it
            continue
        with pytest.raises(IndexTreeError):
            run(tampered, root, None)
    with pytest.raises(IndexTreeError, match="interior parent"):  # a node under a leaf
        run(sorted([*nodes, ((path[0] + 1, path[1] << 1), Node(bytes(32)))]), root, None)
    with pytest.raises(IndexTreeError):  # a leaf gone
        run(nodes[:leaf] + nodes[leaf + 1 :], root, None)
    with pytest.raises(IndexTreeError, match="the entries give"):  # a list the entries lack
        run(nodes, root, dict(list(values(index).items())[1:]))


def test_a_read_is_checked_against_the_parents_already_trusted() -> None:
    index, root = built()
    nodes = index.nodes
    trusted: dict[Path, Node | None] = {}
    check_read(nodes, [(0, 0)], trusted, root)
    trusted[(0, 0)] = nodes[(0, 0)]
    children = [(1, 0), (1, 1)]
    check_read(nodes, children, trusted, root)
    forged = {**nodes, (1, 1): dataclasses.replace(nodes[(1, 1)], hash=bytes(32))}
    with pytest.raises(IndexTreeError, match="not the hash of its stored children"):
        check_read(forged, children, trusted, root)
    with pytest.raises(IndexTreeError, match="without its parent"):
        check_read(nodes, [(2, 0)], trusted, root)
    with pytest.raises(IndexTreeError, match="signed"):
        check_read(nodes, [(0, 0)], {}, bytes(32))


def _set(node: AgencyNode, path: Path, **values: bytes) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with node.engine.begin() as conn:
        conn.execute(
            text(
                f"UPDATE index_nodes SET {sets} WHERE path = :path AND version = "
                "(SELECT max(version) FROM index_nodes WHERE path = :path)"
            ),
            {"path": encode_path(path), **values},
        )


def test_the_integrator_signs_no_root_over_a_changed_stored_node(
    sqlite_node: tuple[AgencyNode, str],
) -> None:
    """A node read from storage that is not the signed tree's halts the log, and the
    next checkpoint is not signed."""
    node, _ = sqlite_node
    submit(node, [f"W{i}" for i in range(40)])
    node.log.integrate()
    latest = node.log.latest()
    _set(node, path_of(key_of(pw("W7")), 1), hash=bytes(32))
    node.log._index_cache, node.log._index_cache_size = {}, -1  # as after a restart
    submit(node, ["W7"])
    with pytest.raises(DamagedLogError) as caught:
        node.log.integrate()
    assert caught.value.code == "index_nodes_damaged"
    assert node.log.latest() == latest


def test_a_proof_from_a_changed_older_tree_is_refused_not_served(
    sqlite_node: tuple[AgencyNode, str],
) -> None:
    node, _ = sqlite_node
    submit(node, [f"W{i}" for i in range(40)])
    first = node.log.integrate()
    submit(node, [f"V{i}" for i in range(40)])
    node.log.integrate()
    assert first is not None
    size = first.checkpoint.size
    node.log.index_proof(pw("W3"), size)
    with node.engine.begin() as conn:
        conn.execute(
            text("UPDATE index_nodes SET value = :v WHERE key = :k AND version = :s"),
            {"v": bytes(32), "k": key_of(pw("W3")), "s": size},
        )
    with pytest.raises(IntegrityError):
        node.log.index_proof(pw("W3"), size)
