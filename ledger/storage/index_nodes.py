"""The verifiable index's nodes in the ``index_nodes`` table: a :class:`NodeReader` as
of a tree size, and the write of the nodes a checkpoint changed (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pel.ledger.index import Node, Path
from pel.ledger.storage.models import IndexNodeRow

INDEX_NODES = IndexNodeRow.__table__


def encode_path(path: Path) -> bytes:
    """``(depth, prefix)`` as stored: uint16 depth, then the prefix left-aligned in bytes."""
    depth, prefix = path
    width = (depth + 7) // 8
    return depth.to_bytes(2, "big") + (prefix << (8 * width - depth)).to_bytes(width, "big")


class SqlIndexNodes:
    """Reads the index as of tree size ``version`` through an open connection: each
    path's row with the largest version ≤ ``version`` (one index seek per path)."""

    def __init__(self, conn: Any, version: int) -> None:
        self._conn = conn
        self._version = version
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self._sql = (
            f"SELECT hash, key, value FROM {INDEX_NODES.name} WHERE path = {mark} "
            f"AND version <= {mark} ORDER BY version DESC LIMIT 1"
        )

    def read_nodes(self, paths: Sequence[Path]) -> Mapping[Path, Node]:
        out: dict[Path, Node] = {}
        for path in paths:
            row = self._conn.exec_driver_sql(self._sql, (encode_path(path), self._version)).first()
            if row is not None:
                h, k, v = row
                out[path] = Node(
                    bytes(h), None if k is None else bytes(k), None if v is None else bytes(v)
                )
        return out


def write_index_nodes(conn: Any, version: int, nodes: Mapping[Path, Node]) -> None:
    """Store the nodes a checkpoint of size ``version`` changed (one executemany)."""
    if not nodes:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {INDEX_NODES.name} (path, version, hash, key, value) "
        f"VALUES ({', '.join([mark] * 5)})"
    )
    conn.exec_driver_sql(
        sql, [(encode_path(p), version, n.hash, n.key, n.value) for p, n in nodes.items()]
    )
