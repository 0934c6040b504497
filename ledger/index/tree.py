"""Updating the index and proving what it holds, over stored nodes read through
:class:`NodeReader` (the SQL-backed reader lives with the log; tests use a dict).

A node sits at a :data:`Path` ``(depth, prefix)``: the subtree of the keys whose first
``depth`` bits are ``prefix``. Only non-empty subtrees are stored. Keys are only ever
added and lists only ever grow, so a path once interior stays interior, a leaf can only
move down (when a second key arrives under it), and nothing is stored below a leaf.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pel.ledger.errors import IntegrityError
from pel.ledger.index.hashing import EMPTY, KEY_BITS, hash_leaf, hash_node, value_hash

Path = tuple[int, int]
"""``(depth, prefix)``: the subtree of keys whose first ``depth`` bits are ``prefix``."""


@dataclass(frozen=True, slots=True)
class Node:
    """A stored subtree: a leaf (``key`` and ``value`` set) or an interior node."""

    hash: bytes
    key: bytes | None = None
    value: bytes | None = None

    @classmethod
    def leaf(cls, key: bytes, value: bytes) -> Node:
        return cls(hash_leaf(key, value), key, value)


class NodeReader(Protocol):
    """Reads stored index nodes."""

    def read_nodes(self, paths: Sequence[Path]) -> Mapping[Path, Node]:
        """The stored node of each path that has one (an absent path is empty)."""
        ...


def path_of(key: bytes, depth: int) -> Path:
    """The path at ``depth`` on the way to ``key``."""
    return depth, int.from_bytes(key, "big") >> (KEY_BITS - depth)


def _children(path: Path) -> tuple[Path, Path]:
    depth, prefix = path
    return (depth + 1, prefix << 1), (depth + 1, (prefix << 1) | 1)


def _bit(k: int, depth: int) -> int:
    return (k >> (KEY_BITS - 1 - depth)) & 1


@dataclass
class Update:
    """The result of :func:`update`: the new root, the nodes to store (their paths and
    contents), and each changed key's new value."""

    root: bytes
    nodes: dict[Path, Node] = field(default_factory=dict)
    values: dict[bytes, bytes] = field(default_factory=dict)


def update(reader: NodeReader, appended: Mapping[bytes, Sequence[int]]) -> Update:
    """Append log indexes to keys' lists and compute the new tree.

    Args:
        reader: The stored nodes of the current tree.
        appended: For each key, the indexes appended to its list, ascending (and all
            above the indexes already in it).

    Returns:
        The new root and the nodes that changed (store them all under the new version).
    """
    cache: dict[Path, Node | None] = {}
    items = sorted((int.from_bytes(k, "big"), k, v) for k, v in appended.items() if v)
    out = Update(root=b"")
    if not items:
        root = _read(reader, cache, [(0, 0)])[(0, 0)]
        out.root = EMPTY if root is None else root.hash
        return out
    # The keys under a path are a run of this sorted list, and its children split the run
    # where the next bit turns to 1: one bisection per node instead of a test per key and
    # level (a checkpoint of a busy log touches thousands of keys).
    ints = [k for k, _, _ in items]
    _prefetch(reader, cache, ints)
    out.root = _update(cache, out, (0, 0), items, ints, 0, len(items)).hash
    return out


def _split(ints: list[int], path: Path, lo: int, hi: int) -> int:
    """Where the run ``ints[lo:hi]`` of keys under ``path`` goes from its left child to
    its right one."""
    depth, prefix = path
    return bisect_left(ints, ((prefix << 1) | 1) << (KEY_BITS - 1 - depth), lo, hi)


def _read(
    reader: NodeReader, cache: dict[Path, Node | None], paths: Sequence[Path]
) -> dict[Path, Node | None]:
    wanted = [p for p in paths if p not in cache]
    if wanted:
        found = reader.read_nodes(wanted)
        for p in wanted:
            cache[p] = found.get(p)
    return {p: cache[p] for p in paths}


def _prefetch(reader: NodeReader, cache: dict[Path, Node | None], ints: list[int]) -> None:
    """Read, a level at a time, every node the update looks at: the interior nodes on
    the changed keys' paths (``ints``, sorted), their children, and the leaf or empty
    subtree where each path ends."""
    frontier: dict[Path, tuple[int, int]] = {(0, 0): (0, len(ints))}
    while frontier:
        nodes = _read(reader, cache, list(frontier))
        nxt: dict[Path, tuple[int, int]] = {}
        for path, (lo, hi) in frontier.items():
            node = nodes[path]
            if node is None or node.key is not None:
                continue
            if path[0] >= KEY_BITS:
                raise IntegrityError(f"index node at depth {path[0]} is interior")
            left, right = _children(path)
            mid = _split(ints, path, lo, hi)
            nxt[left] = (lo, mid)
            nxt[right] = (mid, hi)
        _read(reader, cache, list(nxt))
        frontier = {p: run for p, run in nxt.items() if run[0] < run[1]}


def _update(
    cache: dict[Path, Node | None],
    out: Update,
    path: Path,
    items: list[tuple[int, bytes, Sequence[int]]],
    ints: list[int],
    lo: int,
    hi: int,
) -> Node:
    """The new subtree at ``path`` with the keys ``items[lo:hi]`` updated."""
    current = cache[path]
    if current is None or current.key is not None:
        placed: list[tuple[int, bytes, bytes]] = []
        for k, key, indexes in items[lo:hi]:
            start = current.value if current is not None and current.key == key else EMPTY
            value = value_hash(indexes, start or EMPTY)
            out.values[key] = value
            placed.append((k, key, value))
        if current is not None and current.key not in out.values:
            assert current.key is not None and current.value is not None
            placed.append((int.from_bytes(current.key, "big"), current.key, current.value))
            placed.sort()
        return _build(cache, out, path, placed, [p[0] for p in placed], 0, len(placed))
    left, right = _children(path)
    mid = _split(ints, path, lo, hi)
    lh = _update(cache, out, left, items, ints, lo, mid) if lo < mid else cache[left]
    rh = _update(cache, out, right, items, ints, mid, hi) if mid < hi else cache[right]
    return _put(cache, out, path, Node(hash_node(_hash_of(lh), _hash_of(rh))))


def _build(
    cache: dict[Path, Node | None],
    out: Update,
    path: Path,
    placed: list[tuple[int, bytes, bytes]],
    ints: list[int],
    lo: int,
    hi: int,
) -> Node:
    """The subtree at ``path`` over ``placed[lo:hi]`` (sorted; ``ints`` their keys as
    integers), where nothing is stored below."""
    if hi - lo == 1:
        _, key, value = placed[lo]
        return _put(cache, out, path, Node.leaf(key, value))
    if path[0] >= KEY_BITS:
        raise IntegrityError("two index leaves share a 256-bit key")
    left, right = _children(path)
    mid = _split(ints, path, lo, hi)
    lh = _build(cache, out, left, placed, ints, lo, mid).hash if lo < mid else EMPTY
    rh = _build(cache, out, right, placed, ints, mid, hi).hash if mid < hi else EMPTY
    return _put(cache, out, path, Node(hash_node(lh, rh)))


def _put(cache: dict[Path, Node | None], out: Update, path: Path, node: Node) -> Node:
    cache[path] = node
    out.nodes[path] = node
    return node


def _hash_of(node: Node | None) -> bytes:
    return EMPTY if node is None else node.hash


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the tree says of one key: the siblings on its path (root first; None for an
    empty subtree) and where the path ends: the key's own value, another key's leaf
    (``other``), or an empty subtree (both None)."""

    siblings: tuple[bytes | None, ...]
    value: bytes | None
    other: tuple[bytes, bytes] | None


def prove(reader: NodeReader, key: bytes) -> Lookup:
    """Walk from the root to where ``key`` is or would be, a level per read."""
    siblings: list[bytes | None] = []
    path: Path = (0, 0)
    node = reader.read_nodes([path]).get(path)
    k = int.from_bytes(key, "big")
    while node is not None and node.key is None:
        depth = path[0]
        if depth >= KEY_BITS:
            raise IntegrityError(f"index node at depth {depth} is interior")
        left, right = _children(path)
        found = reader.read_nodes([left, right])
        nxt, sib = (right, left) if _bit(k, depth) else (left, right)
        if nxt not in found and sib not in found:
            raise IntegrityError(f"index node {depth}/{path[1]:x} has no stored children")
        sibling = found.get(sib)
        siblings.append(None if sibling is None else sibling.hash)
        path, node = nxt, found.get(nxt)
    if node is None:
        return Lookup(tuple(siblings), None, None)
    assert node.key is not None and node.value is not None
    if node.key == key:
        return Lookup(tuple(siblings), node.value, None)
    return Lookup(tuple(siblings), None, (node.key, node.value))
