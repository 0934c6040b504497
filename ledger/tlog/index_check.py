"""The log's stored index against the roots its checkpoints sign: the start-up check of
``index_nodes``, and their rebuild from the entries.

Every checkpoint that commits to an index carries its root (``pel-index/v1``), and the
integrator writes, under that checkpoint's size, every node it changed. So:

* a root row is stored under the size of each stored checkpoint that commits to an
  index, equal to the root it signs, and under no other size (a row put in, or a
  checkpoint taken out);
* each path's newest row is under such a size (a row under another would be read as
  a node of every later tree), and the newest rows are exactly the tree whose root the
  latest checkpoint signed (:class:`~ledger.index.check.TreeCheck`); in the full check
  also with each key's list the one the entries give, the entries' PWID columns having
  been read against the entries in the same pass.

The database picks each path's newest row in one pass over the table: only the latest
tree's nodes reach Python. The quick check compares only the latest root row. Nodes of
older trees are checked when a proof is served from them (``Log.index_proof``), and
nodes of the latest tree when the integrator reads them
(:func:`~ledger.index.check.check_read`).

Nodes that fail are rebuilt from the entries by replaying every checkpoint in order,
as the integrator wrote them (:func:`rebuild_index_nodes`): each replayed root must be
the signed one, so nothing but what the checkpoints commit to is written.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete

from pel.ledger.errors import DamagedLogError
from pel.ledger.index import EMPTY, Node, key_of, update
from pel.ledger.index import Path as IndexPath
from pel.ledger.index.check import IndexTreeError, TreeCheck
from pel.ledger.index.hashing import VALUE_PREFIX
from pel.ledger.storage.index_nodes import (
    INDEX_NODES,
    SqlIndexNodes,
    decode_path,
    index_roots,
    newest_index_nodes,
    write_index_nodes,
)

ROOT_PATH: IndexPath = (0, 0)
_INDEX = struct.Struct(">Q")


class IndexValues:
    """Each PWID's list value, folded in from entries read in log order."""

    def __init__(self) -> None:
        self._chains: dict[str, bytes] = {}

    def add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Entries as ``(index, record id, pwid, …)`` rows, in log order."""
        # ``extend_value`` inlined: it runs once for every entry of the log.
        chains, get, sha256, pack = self._chains, self._chains.get, hashlib.sha256, _INDEX.pack
        for row in rows:
            pwid = row[2]
            chains[pwid] = sha256(VALUE_PREFIX + get(pwid, EMPTY) + pack(row[0])).digest()

    def by_key(self) -> dict[bytes, bytes]:
        return {key_of(pwid): value for pwid, value in self._chains.items()}


def check_index_nodes(
    conn: Any,
    size: int,
    roots: Mapping[int, bytes | None],
    values: Mapping[bytes, bytes] | None,
    *,
    full: bool,
) -> int:
    """Check the stored index nodes (see the module's docstring); the nodes checked.

    Args:
        size: The latest checkpoint's size.
        roots: The index root each stored checkpoint signs (None: it commits to none).
        values: Every key's list value from the entries (full check; None: not compared).
        full: Read every row; else only the latest root row.

    Raises:
        IndexTreeError: what does not match.
    """
    latest = roots.get(size)
    if not full:
        if latest is None:
            return 0
        stored = SqlIndexNodes(conn, size).read_nodes([ROOT_PATH]).get(ROOT_PATH)
        if (EMPTY if stored is None else stored.hash) != latest:
            raise IndexTreeError("the stored index root is not the one the checkpoint signed")
        return 1
    signed = {s: r for s, r in roots.items() if r is not None}
    stored = index_roots(conn)
    for version in sorted(signed.keys() ^ stored.keys()):
        if version in signed:
            raise IndexTreeError(f"no index root is stored for the checkpoint of size {version}")
        raise IndexTreeError(
            f"an index root is stored under tree size {version}, but no stored checkpoint of "
            "that size commits to an index (a row put in, or a checkpoint taken out)"
        )
    for version, root in stored.items():
        if root != signed[version]:
            raise IndexTreeError(f"the index root stored for tree size {version} is not signed")
    tree = TreeCheck(latest, values) if latest is not None else None
    for raw, version, node in newest_index_nodes(conn):
        if version not in signed:
            raise IndexTreeError(
                f"an index node is stored under tree size {version}, but no stored checkpoint "
                "of that size commits to an index"
            )
        if tree is not None:
            tree.add(_path(raw), node)
    if tree is None:
        return 0
    tree.finish()
    return tree.nodes


def _path(raw: bytes | None) -> IndexPath:
    path = decode_path(raw or b"")
    if path is None:
        raise IndexTreeError(f"a stored index path is malformed ({(raw or b'').hex()[:20]})")
    return path


class _Tree:
    """The whole tree in memory, as the replay builds it."""

    def __init__(self) -> None:
        self.nodes: dict[IndexPath, Node] = {}

    def read_nodes(self, paths: Sequence[IndexPath]) -> dict[IndexPath, Node]:
        return {p: n for p in paths if (n := self.nodes.get(p)) is not None}


def rebuild_index_nodes(
    conn: Any,
    checkpoints: Sequence[tuple[int, bytes | None]],
    pwids: Callable[[int, int], list[tuple[int, str]]],
) -> int:
    """Write the index nodes again from the entries: every stored row is deleted, then
    each checkpoint that commits to an index is replayed in order, as the integrator
    does (over the empty tree after one that commits to none). Returns the rows written.

    Args:
        checkpoints: ``(size, index root or None)`` of every stored checkpoint, ascending.
        pwids: ``(index, pwid)`` of the entries ``start`` ≤ index < ``end``.

    Raises:
        DamagedLogError: ``index_root_mismatch``: the entries do not give the root a
            checkpoint signed (nothing is written then: the caller rolls back).
    """
    conn.execute(delete(INDEX_NODES))
    tree = _Tree()
    written = 0
    before, indexed = 0, False
    for size, root in checkpoints:
        if root is None:
            before, indexed = size, False
            continue
        start = before if indexed else 0
        if start == 0:
            tree = _Tree()
        appended: dict[bytes, list[int]] = {}
        for idx, pwid in pwids(start, size):
            appended.setdefault(key_of(pwid), []).append(idx)
        result = update(tree, appended)
        if result.root != root:
            raise DamagedLogError(
                f"the entries do not give the index root the checkpoint of size {size} signed: "
                "the log committed to another index than its entries",
                code="index_root_mismatch",
            )
        write_index_nodes(conn, size, result.nodes)
        tree.nodes.update(result.nodes)
        written += len(result.nodes)
        before, indexed = size, True
    return written


__all__ = ["IndexTreeError", "IndexValues", "check_index_nodes", "rebuild_index_nodes"]
