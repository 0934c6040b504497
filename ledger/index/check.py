"""Checking stored index nodes against the root a checkpoint signed (pure: nodes in,
a reason out).

Two shapes of check, for two readers:

* :class:`TreeCheck` takes every node of one version of the tree, in the order the
  ``index_nodes`` table keeps them (by depth, then by prefix: a level at a time from the
  root, left to right), and checks that they are exactly one tree whose root is the
  signed one: each interior node the hash of its two children, each leaf the hash of
  its key and value with the key under its path, no node but the root without an
  interior parent. Given the lists the log's entries give each key, every leaf's value
  is also compared with its key's list, and every key must have its leaf. It keeps two
  levels' hashes at most, not the tree.
* :func:`check_read` checks the nodes one read fetched against the nodes already
  trusted (their parents): what the integrator does with each node it reads from
  storage, so that the next signed root never rests on a node nobody checked.

A node that passes either check is the node the signed root commits to, unless
SHA-256 collides.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pel.ledger.errors import IntegrityError
from pel.ledger.index.hashing import EMPTY, KEY_BITS, hash_leaf, hash_node
from pel.ledger.index.tree import Node, Path, path_of


class IndexTreeError(IntegrityError):
    """Stored index nodes that are not the tree the signed root commits to."""


def check_node(path: Path, node: Node) -> None:
    """A node on its own: a leaf hashes its key and value and its key is under its
    path; an interior node has neither key nor value.

    Raises:
        IndexTreeError: the node is malformed.
    """
    depth, prefix = path
    if not 0 <= depth <= KEY_BITS or not 0 <= prefix < 1 << depth:
        raise IndexTreeError(f"index node {depth}/{prefix:x} is not a path of the tree")
    if (node.key is None) != (node.value is None):
        raise IndexTreeError(f"index node {depth}/{prefix:x} has a key without a value")
    if node.key is None:
        if depth == KEY_BITS:
            raise IndexTreeError(f"index node at depth {depth} is interior")
        return
    assert node.value is not None
    if len(node.key) != 32 or path_of(node.key, depth) != path:
        raise IndexTreeError(f"index leaf {depth}/{prefix:x} holds a key of another path")
    if hash_leaf(node.key, node.value) != node.hash:
        raise IndexTreeError(f"index leaf {depth}/{prefix:x} does not hash to its stored hash")


class TreeCheck:
    """Check one version of a stored tree, node by node in level order (see above).

    Args:
        root: The index root the checkpoint signed.
        values: Every key's value as the log's entries give it (None: leaves are
            checked against the root only).
    """

    def __init__(self, root: bytes, values: Mapping[bytes, bytes] | None = None) -> None:
        self.root = root
        self.values = values
        self.nodes = 0
        self.leaves = 0
        self._depth = -1
        self._last = -1
        # Interior nodes of the level above (prefix → hash), and the hashes of their
        # children met so far on this level (prefix → node hash).
        self._above: dict[int, bytes] = {}
        self._interior: dict[int, bytes] = {}
        self._here: dict[int, bytes] = {}

    def add(self, path: Path, node: Node) -> None:
        """The next node in level order.

        Raises:
            IndexTreeError: the nodes so far are not the signed tree.
        """
        depth, prefix = path
        if (depth, prefix) <= (self._depth, self._last):
            raise IndexTreeError(f"index node {depth}/{prefix:x} read out of order")
        check_node(path, node)
        if depth != self._depth:
            self._close_level()
            if depth != self._depth + 1:
                raise IndexTreeError(f"index node {depth}/{prefix:x} has no parent")
            self._depth = depth
        self._last = prefix
        self.nodes += 1
        if depth == 0:
            if node.hash != self.root:
                raise IndexTreeError("the stored index root is not the one the checkpoint signed")
        elif prefix >> 1 not in self._above:
            raise IndexTreeError(f"index node {depth}/{prefix:x} has no interior parent")
        self._here[prefix] = node.hash
        if node.key is None:
            self._interior[prefix] = node.hash
            return
        self.leaves += 1
        if self.values is not None and self.values.get(node.key) != node.value:
            raise IndexTreeError(
                f"index leaf {depth}/{prefix:x} holds another list than the entries give its key"
            )

    def _close_level(self) -> None:
        """Every interior node of the level above must hash its two children."""
        for prefix, want in self._above.items():
            left = self._here.get(prefix << 1, EMPTY)
            right = self._here.get(prefix << 1 | 1, EMPTY)
            if hash_node(left, right) != want:
                raise IndexTreeError(
                    f"index node {self._depth - 1}/{prefix:x} is not the hash of its children"
                )
        self._above, self._interior, self._here = self._interior, {}, {}

    def finish(self) -> None:
        """The tree is complete: no interior node lacks its children, and every key the
        entries give has its leaf.

        Raises:
            IndexTreeError: it is not.
        """
        if self._depth < 0 and self.root != EMPTY:
            raise IndexTreeError("no stored index node, but the checkpoint signs a non-empty index")
        self._close_level()
        self._depth += 1
        self._close_level()
        if self.values is not None and self.leaves != len(self.values):
            raise IndexTreeError(
                f"the stored index has {self.leaves} keys, but the entries give {len(self.values)}"
            )


def check_read(
    found: Mapping[Path, Node],
    asked: Collection[Path],
    trusted: Mapping[Path, Node | None],
    root: bytes,
) -> None:
    """Check nodes just read from storage against nodes already trusted.

    Args:
        found: The nodes the read returned (a path absent from it is empty).
        asked: The paths read.
        trusted: Nodes already checked (or computed here): each asked path's parent
            must be among them, and its sibling too unless it was asked as well.
        root: The signed index root the read tree must have.

    Raises:
        IndexTreeError: a node read is not the node the signed root commits to.
    """

    def hash_of(p: Path) -> bytes:
        node = found.get(p) if p in asked else trusted[p]
        return EMPTY if node is None else node.hash

    for path in asked:
        node = found.get(path)
        if node is not None:
            check_node(path, node)
        depth, prefix = path
        if depth == 0:
            if hash_of(path) != root:
                raise IndexTreeError("the stored index root is not the one the checkpoint signed")
            continue
        parent = (depth - 1, prefix >> 1)
        sibling = (depth, prefix ^ 1)
        above = trusted.get(parent)
        known = sibling in asked or sibling in trusted
        if above is None or above.key is not None or not known:
            raise IndexTreeError(f"index node {depth}/{prefix:x} was read without its parent")
        left, right = sorted((path, sibling))
        if hash_node(hash_of(left), hash_of(right)) != above.hash:
            raise IndexTreeError(
                f"index node {depth - 1}/{prefix >> 1:x} is not the hash of its stored children"
            )
