"""The tamper campaign's changes to the tables beside the log's own: the verifiable
index's nodes (whose root each checkpoint signs), cosignatures, the witness's state,
mirrors, evidence and tokens. Registered in ``tamper_kit.CASES`` on import."""

from __future__ import annotations

import json
from pathlib import Path

from pel.crypto.cosignature import CosignatureSigner
from pel.crypto.keys import SigningKey
from pel.ledger.federation.evidence import checkpoint_of, fork_between
from pel.ledger.storage.index_nodes import decode_path, encode_path
from pel.node.access.tokens import token_hash
from pel.node.integrity.witness_copy import FILE as WITNESS_STATE_FILE
from pel.node.trust.secret_files import TOKEN_KEY_FILE
from tests.node.tamper_kit import (
    REPAIRED,
    SG_ORIGIN,
    TH_ORIGIN,
    Truth,
    case,
    query,
    sql,
)

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


# ---- cosignatures (each checkpoint's, by TH and SG, two keys each) -------------------


def _line(d: Path, size: int, witness: str = "sso.go.th") -> tuple[str, bytes]:
    rows = query(
        d, "SELECT witness, line FROM cosignatures WHERE size = ? ORDER BY witness", (size,)
    )
    return next((str(w), bytes(x)) for w, x in rows if str(w).startswith(witness))


@case("cosignatures: a byte of a line of the latest checkpoint", "cosignature_invalid")
def _(d: Path, t: Truth) -> None:
    witness, line = _line(d, t.size)
    changed = line[:-6] + (b"A" if line[-6:-5] != b"A" else b"B") + line[-5:]
    sql(
        d,
        "UPDATE cosignatures SET line = ? WHERE witness = ? AND size = ?",
        params=(changed, witness, t.size),
    )


@case(
    "cosignatures: the latest's line replaced by the same witness's older one",
    "cosignature_invalid",
)
def _(d: Path, t: Truth) -> None:
    witness, line = _line(d, 500)
    sql(
        d,
        "UPDATE cosignatures SET line = ? WHERE witness = ? AND size = ?",
        params=(line, witness, t.size),
    )


@case("cosignatures: a line under another witness's name", "cosignature_invalid")
def _(d: Path, t: Truth) -> None:
    _, line = _line(d, t.size, "sso.go.th")
    witness, _ = _line(d, t.size, "cpf.gov.sg")
    sql(
        d,
        "UPDATE cosignatures SET line = ? WHERE witness = ? AND size = ?",
        params=(line, witness, t.size),
    )


@case("cosignatures: a line put in by a key no trust list gives", "cosignature_invalid")
def _(d: Path, t: Truth) -> None:
    signer = CosignatureSigner("sso.go.th/witness", SigningKey.generate())
    sig = signer.at(1).cosign(t.note.split(b"\n\n", 1)[0] + b"\n")
    witness = f"{sig.name}+{sig.key_id.hex()}"
    sql(
        d,
        "INSERT INTO cosignatures (size, witness, line) VALUES (?, ?, ?)",
        params=(t.size, witness, sig.line().encode()),
    )


@case("cosignatures: lines put in for a size with no checkpoint", "cosignature_invalid")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE cosignatures SET size = 600 WHERE size = 500")


# ---- witness_state (TH's log at 300, SG's at 10), and its copy outside the database ---


def _roll_back(d: Path, origin: str, note: bytes) -> None:
    cp = checkpoint_of(note)
    sql(
        d,
        "UPDATE witness_state SET size = ?, root = ?, note = ? WHERE origin = ?",
        params=(cp.size, cp.root, note, origin),
    )


def _copy(d: Path) -> Path:
    return d / WITNESS_STATE_FILE


def _edit_copy(d: Path, origin: str, note: bytes | None) -> None:
    doc = json.loads(_copy(d).read_text())
    if note is None:
        del doc["logs"][origin]
    else:
        doc["logs"][origin] = note.decode()
    _copy(d).write_text(json.dumps(doc))


@case("witness_state: TH's row rolled back to a checkpoint it cosigned before", REPAIRED)
def _(d: Path, t: Truth) -> None:
    _roll_back(d, TH_ORIGIN, t.notes["TH@200"])


@case("witness_state: TH's row deleted", REPAIRED)
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM witness_state WHERE origin = ?", params=(TH_ORIGIN,))


@case("witness_state: every row deleted", REPAIRED)
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM witness_state")


@case("witness_state: TH's root changed, its note kept", "witness_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE witness_state SET root = ? WHERE origin = ?", params=(bytes(32), TH_ORIGIN))


@case("witness_state: TH's note replaced by SG's", "witness_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sg = t.witnessed[SG_ORIGIN]
    sql(d, "UPDATE witness_state SET note = ? WHERE origin = ?", params=(sg, TH_ORIGIN))


@case(
    "witness_state: TH's row moved ahead to a checkpoint never cosigned", "witness_state_mismatch"
)
def _(d: Path, t: Truth) -> None:
    _roll_back(d, TH_ORIGIN, t.notes["TH fork@400"])


@case("witness_state: a row put in for a log of no member", "witness_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(
        d,
        "INSERT INTO witness_state (origin, size, root, note, updated_at) "
        "SELECT 'other.test/pel', size, root, note, updated_at FROM witness_state WHERE origin = ?",
        params=(TH_ORIGIN,),
    )


@case("witness-state file: deleted", REPAIRED)
def _(d: Path, t: Truth) -> None:
    _copy(d).unlink()


@case("witness-state file: garbage", "witness_state_mismatch")
def _(d: Path, t: Truth) -> None:
    _copy(d).write_bytes(b"\x00" * 64)


@case("witness-state file: TH rolled back in it alone", "witness_state_mismatch")
def _(d: Path, t: Truth) -> None:
    _edit_copy(d, TH_ORIGIN, t.notes["TH@200"])


@case("witness-state file: TH taken out of it", "witness_state_mismatch")
def _(d: Path, t: Truth) -> None:
    _edit_copy(d, TH_ORIGIN, None)


@case("witness-state file and row: TH rolled back in both", "witness_state_rolled_back")
def _(d: Path, t: Truth) -> None:
    _edit_copy(d, TH_ORIGIN, t.notes["TH@200"])
    _roll_back(d, TH_ORIGIN, t.notes["TH@200"])


@case("witness-state file deleted and TH's row rolled back", "witness_state_rolled_back")
def _(d: Path, t: Truth) -> None:
    _copy(d).unlink()
    _roll_back(d, TH_ORIGIN, t.notes["TH@200"])


# ---- mirrors (TH's log, mirrored at 300, witnessed at 300) -----------------------------


def _mirror(d: Path, statement: str, *params: object) -> None:
    sql(d, statement, params=(*params, TH_ORIGIN))


@case("mirror_state: size and root of TH's checkpoint at 200, note kept", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    cp = checkpoint_of(t.notes["TH@200"])
    _mirror(d, "UPDATE mirror_state SET size = ?, root = ? WHERE origin = ?", cp.size, cp.root)


@case("mirror_state: rolled back to TH's checkpoint at 200", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    cp = checkpoint_of(t.notes["TH@200"])
    _mirror(
        d,
        "UPDATE mirror_state SET size = ?, root = ?, note = ?, next_index = ? WHERE origin = ?",
        cp.size,
        cp.root,
        t.notes["TH@200"],
        cp.size,
    )


@case("mirror_state: the agency changed", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(d, "UPDATE mirror_state SET agency = 'SG-CPF' WHERE origin = ?")


@case("mirror_state: next_index past the entries stored", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(d, "UPDATE mirror_state SET next_index = next_index + 5 WHERE origin = ?")


@case("mirror_state: a pending checkpoint never signed", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(d, "UPDATE mirror_state SET pending = ? WHERE origin = ?", t.notes["TH@200"][:-20])


@case("mirror_state: a witness's line on the note changed", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    note = bytearray(t.mirror)
    note[-8] ^= 0x01
    _mirror(d, "UPDATE mirror_state SET note = ? WHERE origin = ?", bytes(note))


@case("mirror_state: a row for a log of no member", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    sql(
        d,
        "INSERT INTO mirror_state (origin, agency, size, root, note, next_index, pending) "
        "SELECT 'other.test/pel', agency, 0, root, NULL, 0, NULL FROM mirror_state",
    )


@case("mirror_entries: a byte of an entry", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    entry = bytearray(t.mirror_entries[77])
    entry[30] ^= 0x01
    _mirror(d, "UPDATE mirror_entries SET data = ? WHERE idx = 77 AND origin = ?", bytes(entry))


@case("mirror_entries: two entries swapped", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    update = "UPDATE mirror_entries SET data = ? WHERE idx = ? AND origin = ?"
    _mirror(d, update, t.mirror_entries[11], 10)
    _mirror(d, update, t.mirror_entries[10], 11)


@case("mirror_entries: a pwid column changed", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(
        d, "UPDATE mirror_entries SET pwid = 'TH-0000000000000000' WHERE idx = 5 AND origin = ?"
    )


@case("mirror_entries: a record_id column changed", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(d, "UPDATE mirror_entries SET record_id = 'forged' WHERE idx = 250 AND origin = ?")


@case("mirror_entries: a row deleted", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(d, "DELETE FROM mirror_entries WHERE idx = 120 AND origin = ?")


@case("mirror_entries: a row put in past the end", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(
        d,
        "INSERT INTO mirror_entries (origin, idx, record_id, pwid, type, data) "
        "SELECT origin, 300, 'extra', pwid, type, data FROM mirror_entries "
        "WHERE idx = 3 AND origin = ?",
    )


@case("mirror_entries: rows of a log that is not mirrored", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(
        d,
        "INSERT INTO mirror_entries (origin, idx, record_id, pwid, type, data) "
        "SELECT 'cpf.gov.sg/pel', idx, record_id, pwid, type, data FROM mirror_entries "
        "WHERE origin = ?",
    )


@case("mirror_tiles: a byte of tile 0/0", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(
        d,
        "UPDATE mirror_tiles SET data = CAST(zeroblob(32) || substr(data, 33) AS BLOB) "
        "WHERE level = 0 AND idx = 0 AND origin = ?",
    )


@case("mirror_tiles: the level-1 tile", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(d, "UPDATE mirror_tiles SET data = zeroblob(32) WHERE level = 1 AND origin = ?")


@case("mirror_tiles: the partial tile deleted", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(d, "DELETE FROM mirror_tiles WHERE level = 0 AND idx = 1 AND origin = ?")


@case("mirror_tiles: a stray tile", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(
        d,
        "INSERT INTO mirror_tiles (origin, level, idx, data) VALUES (?, 0, 5, zeroblob(8192))",
    )


@case("mirror_witnessed: the note replaced by TH's checkpoint at 200", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    _mirror(d, "UPDATE mirror_witnessed SET note = ? WHERE origin = ?", t.notes["TH@200"])


@case("mirror_witnessed: a checkpoint beyond the copy", "mirror_damaged")
def _(d: Path, t: Truth) -> None:
    note = t.notes["TH fork@400"]
    _mirror(d, "UPDATE mirror_witnessed SET size = 400, note = ? WHERE origin = ?", note)


# ---- evidence (a proven fork of SG's log) and index evidence (one unproven, of TH's) ----


@case("evidence: the fork's second checkpoint made the first", "evidence_invalid")
def _(d: Path, t: Truth) -> None:
    (data,) = query(d, "SELECT data FROM evidence")[0]
    doc = json.loads(bytes(data))
    doc["second"] = doc["first"]
    sql(d, "UPDATE evidence SET data = ?", params=(json.dumps(doc).encode(),))


@case("evidence: a proven fork of TH's log put in", "evidence_invalid")
def _(d: Path, t: Truth) -> None:
    fake = fork_between(TH_ORIGIN, t.notes["TH@200"], t.mirror)  # consistent: no fork
    sql(
        d,
        "INSERT INTO evidence (origin, proven, data, found_at) VALUES (?, 1, ?, '2026-01-01')",
        params=(TH_ORIGIN, fake.to_json().encode()),
    )


@case("evidence: garbled", "evidence_invalid")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE evidence SET data = substr(data, 1, 40)")


@case("index_evidence: its checkpoint changed", "evidence_invalid")
def _(d: Path, t: Truth) -> None:
    (data,) = query(d, "SELECT data FROM index_evidence")[0]
    sql(d, "UPDATE index_evidence SET data = ?", params=(bytes(data).replace(b"200", b"201", 1),))


@case("index_evidence: a proven row put in", "evidence_invalid")
def _(d: Path, t: Truth) -> None:
    sql(
        d,
        "INSERT INTO index_evidence (origin, proven, data, found_at) "
        "VALUES (?, 1, ?, '2026-01-01')",
        params=(TH_ORIGIN, b'{"format": "pel-index-evidence/v1"}'),
    )


# ---- tokens (the init admin, a writer, a revoked reader) -------------------------------


def _token_row(t: Truth, label: str) -> str:
    return token_hash(t.tokens[label][0])


@case("tokens: the writer's role raised to admin", "token_mac_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(
        d,
        "UPDATE tokens SET role = 'admin' WHERE token_hash = ?",
        params=(_token_row(t, "writer desk"),),
    )


@case("tokens: the admin's hash replaced by one of a token someone holds", "token_mac_mismatch")
def _(d: Path, t: Truth) -> None:
    mine = token_hash("pel_a-token-of-my-own")
    sql(d, "UPDATE tokens SET token_hash = ? WHERE label = 'init'", params=(mine,))


@case("tokens: a revocation lifted", "token_mac_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(
        d,
        "UPDATE tokens SET revoked_at = NULL WHERE token_hash = ?",
        params=(_token_row(t, "old reader"),),
    )


@case("tokens: the writer's label changed", "token_mac_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(
        d,
        "UPDATE tokens SET label = 'x' WHERE token_hash = ?",
        params=(_token_row(t, "writer desk"),),
    )


@case("tokens: an admin row put in without a MAC", "token_mac_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(
        d,
        "INSERT INTO tokens (token_hash, agency, label, created_at, role) "
        "VALUES (?, 'MY-PERKESO', 'x', '2026-01-01 00:00:00', 'admin')",
        params=(token_hash("pel_mine"),),
    )


@case("tokens: an admin row put in with another row's MAC", "token_mac_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(
        d,
        "INSERT INTO tokens (token_hash, agency, label, created_at, role, mac) "
        "SELECT ?, agency, label, created_at, 'admin', mac FROM tokens WHERE label = 'init'",
        params=(token_hash("pel_mine"),),
    )


@case("token key file: deleted (a new key is made)", "token_mac_mismatch")
def _(d: Path, t: Truth) -> None:
    (d / TOKEN_KEY_FILE).unlink()


# ---- values of another type than their column's ----------------------------------------


@case("evidence: its data stored as text", "database_damaged")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE evidence SET data = CAST(data AS TEXT)")


@case("mirror_tiles: a tile stored as text that is not UTF-8", "database_damaged")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE mirror_tiles SET data = CAST(data AS TEXT) WHERE level = 1")


@case("entries.data of an integrated entry stored as text", "database_damaged")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE entries SET data = CAST(data AS TEXT) WHERE idx = 12")
