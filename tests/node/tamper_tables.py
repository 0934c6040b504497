"""The tamper campaign's changes to the tables beside the log's own: the verifiable
index's nodes (whose root each checkpoint signs), cosignatures, the witness's state,
mirrors, evidence and tokens. Registered in ``tamper_kit.CASES`` on import."""

from __future__ import annotations

from pathlib import Path

from pel.ledger.storage.index_nodes import decode_path, encode_path
from tests.node.tamper_kit import Truth, case, query, sql

# ---- index_nodes ----------------------------------------------------------------------

ROOT = encode_path((0, 0))


def _latest(d: Path, where: str) -> tuple[bytes, int]:
    """The stored path and version of a node of the latest tree that matches ``where``."""
    rows = query(
        d,
        "SELECT n.path, n.version FROM index_nodes n JOIN (SELECT path, max(version) AS v "
        "FROM index_nodes GROUP BY path) m ON n.path = m.path AND n.version = m.v "
        f"WHERE {where} ORDER BY n.path",
    )
    path, version = rows[len(rows) // 2]
    return bytes(path), int(version)


def _set_node(d: Path, path: bytes, version: int, column: str, value: bytes | None) -> None:
    sql(
        d,
        f"UPDATE index_nodes SET {column} = ? WHERE path = ? AND version = ?",
        params=(value, path, version),
    )


@case("index_nodes: the latest root's hash", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    _set_node(d, ROOT, t.size, "hash", bytes(32))


@case("index_nodes: an older checkpoint's root", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    _set_node(d, ROOT, 500, "hash", bytes(range(32)))


@case("index_nodes: a leaf's value", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    path, version = _latest(d, "n.key IS NOT NULL")
    _set_node(d, path, version, "value", bytes(32))


@case("index_nodes: a leaf's value and hash, made to agree", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    from pel.ledger.index import hash_leaf

    path, version = _latest(d, "n.key IS NOT NULL")
    ((key,),) = query(
        d, "SELECT key FROM index_nodes WHERE path = ? AND version = ?", (path, version)
    )
    _set_node(d, path, version, "value", bytes(32))
    _set_node(d, path, version, "hash", hash_leaf(bytes(key), bytes(32)))


@case("index_nodes: a leaf's key swapped for another worker's", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    path, version = _latest(d, "n.key IS NOT NULL")
    _set_node(d, path, version, "key", bytes(31) + b"\x01")


@case("index_nodes: an interior node's hash", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    path, version = _latest(d, "n.key IS NULL AND length(n.path) > 2")
    _set_node(d, path, version, "hash", bytes(32))


@case("index_nodes: a leaf of the latest tree deleted", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    path, version = _latest(d, "n.key IS NOT NULL")
    sql(d, "DELETE FROM index_nodes WHERE path = ? AND version = ?", params=(path, version))


@case("index_nodes: the latest checkpoint's rows deleted", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM index_nodes WHERE version = ?", params=(t.size,))


@case("index_nodes: every row deleted", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM index_nodes")


@case("index_nodes: a leaf put in for a later tree size", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    path, version = _latest(d, "n.key IS NOT NULL")
    sql(
        d,
        "INSERT INTO index_nodes (path, version, hash, key, value) "
        "SELECT path, ?, hash, key, ? FROM index_nodes WHERE path = ? AND version = ?",
        params=(t.size + 5, bytes(32), path, version),
    )


@case("index_nodes: a node put in under a leaf", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    path, version = _latest(d, "n.key IS NOT NULL")
    leaf = decode_path(path)
    assert leaf is not None
    below = encode_path((leaf[0] + 1, leaf[1] << 1))
    sql(
        d,
        "INSERT INTO index_nodes (path, version, hash, key, value) VALUES (?, ?, ?, NULL, NULL)",
        params=(below, version, bytes(32)),
    )


@case("index_nodes: a row moved to another checkpoint's size", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    path, version = _latest(d, "n.key IS NOT NULL")
    where = "path = ? AND version = ?"
    sql(d, f"UPDATE index_nodes SET version = 3 WHERE {where}", params=(path, version))


@case("table index_nodes dropped", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    sql(d, "DROP TABLE index_nodes")


@case("checkpoints: an older one deleted (its index rows remain)", "index_nodes_damaged")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM checkpoints WHERE size = 500")

