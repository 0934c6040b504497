"""The verifiable index's nodes in the ``index_nodes`` table: a :class:`NodeReader` as
of a tree size, and the write of the nodes a checkpoint changed (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pel.ledger.index import Node, Path
from pel.ledger.storage.models import IndexNodeRow

INDEX_NODES = IndexNodeRow.__table__
_IN_CHUNK = 500  # bound on parameters per IN (...) query


def encode_path(path: Path) -> bytes:
    """``(depth, prefix)`` as stored: uint16 depth, then the prefix left-aligned in bytes."""
    depth, prefix = path
    width = (depth + 7) // 8
    return depth.to_bytes(2, "big") + (prefix << (8 * width - depth)).to_bytes(width, "big")


def decode_path(raw: bytes) -> Path | None:
    """The path :func:`encode_path` stored as ``raw``; None if ``raw`` is not one."""
    if len(raw) < 2:
        return None
    depth = int.from_bytes(raw[:2], "big")
    width = (depth + 7) // 8
    if len(raw) != 2 + width:
        return None
    bits = int.from_bytes(raw[2:], "big")
    spare = 8 * width - depth
    if bits & ((1 << spare) - 1):
        return None
    return depth, bits >> spare


def newest_index_nodes(conn: Any, batch: int = 4096) -> Iterator[tuple[bytes, int, Node]]:
    """Each path's row of the largest version, as ``(stored path, version, node)`` in the
    table's order: by depth, then prefix. The database picks the rows in one pass over
    the table; only the newest of each path reach Python."""
    t = INDEX_NODES.name
    if conn.dialect.name == "postgresql":
        sql = (
            f"SELECT DISTINCT ON (path) path, version, hash, key, value FROM {t} "
            "ORDER BY path, version DESC"
        )
    else:  # SQLite takes the bare columns from the row that gives the group its max()
        sql = f"SELECT path, max(version), hash, key, value FROM {t} GROUP BY path ORDER BY path"
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            for path, version, h, k, v in rows:
                yield bytes(path), int(version), Node(bytes(h), k and bytes(k), v and bytes(v))
    finally:
        cursor.close()


def index_roots(conn: Any) -> dict[int, bytes]:
    """The root row's hash under each version it is stored at (one index range)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    rows = conn.exec_driver_sql(
        f"SELECT version, hash FROM {INDEX_NODES.name} WHERE path = {mark}",
        (encode_path((0, 0)),),
    )
    return {int(version): bytes(h) for version, h in rows}


class SqlIndexNodes:
    """Reads the index as of tree size ``version`` through an open connection: each
    path's row with the largest version ≤ ``version``. A batch of paths is one query, in
    which each path is one index seek (the top paths have a row per checkpoint)."""

    def __init__(self, conn: Any, version: int) -> None:
        self._conn = conn
        self._version = version
        self._mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"

    def read_nodes(self, paths: Sequence[Path]) -> Mapping[Path, Node]:
        by_key = {encode_path(p): p for p in paths}
        keys = list(by_key)
        out: dict[Path, Node] = {}
        m, t = self._mark, INDEX_NODES.name
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            values = ", ".join([f"({m})"] * len(chunk))
            sql = (
                f"WITH p(path) AS (VALUES {values}), "
                f"q AS (SELECT p.path AS path, (SELECT max(version) FROM {t} x "
                f"WHERE x.path = p.path AND x.version <= {m}) AS v FROM p) "
                f"SELECT n.path, n.hash, n.key, n.value FROM q JOIN {t} n "
                "ON n.path = q.path AND n.version = q.v"
            )
            for path, h, k, v in self._conn.exec_driver_sql(sql, (*chunk, self._version)):
                out[by_key[bytes(path)]] = Node(
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
