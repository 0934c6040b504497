"""The tamper campaign: changes made to a stopped node's database and files.

Each change is made to a fresh copy of one stopped node of a federation of three (700
records in four cosigned checkpoints, amendments and revocations, 20 records pending;
its witness's state of the two other logs, a mirror of one, evidence of a fork of the
other, tokens). The changes to the log's own tables and files are here; those to the
tables beside it (index nodes, cosignatures, witness state, mirrors, evidence, tokens)
are in ``tamper_tables``. The default start-up check (``Node.check``, what ``pel
serve`` and ``pel check`` run) must then either refuse with a stable code, or mend
without loss, after which every answer is checked against the untouched node
(``tamper_kit.answers_hold``). The count is printed.

The eight changes that got through before (issue 22) are also tested one by one,
through ``pel check`` and ``pel serve`` as well.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pel.crypto.errors import PelError
from pel.crypto.keys import SigningKey
from pel.ledger.index import parse_extension, verify_index_proof
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import verify_inclusion
from pel.ledger.merkle.tiles import TILE_WIDTH
from pel.ledger.storage.tilefile import HEADER_SIZE
from pel.node.agency_node import Node
from pel.node.cli import app
from tests import factories as f
from tests.node import tamper_tables  # noqa: F401  (registers the other tables' cases)
from tests.node.tamper_kit import (
    AGENCY,
    CASES,
    REPAIRED,
    Truth,
    append_row,
    case,
    copy_node,
    db_path,
    flip_file,
    flip_slot,
    occurrences,
    page_size,
    query,
    signed_entry,
    sql,
    tile_file,
)
from tests.node.tamper_kit import (
    answers_hold as answers_hold_for,
)

TABLE_LEAF, INDEX_LEAF = (0x0D,), (0x0A,)


def _data(d: Path, idx: int) -> bytes:
    return bytes(query(d, "SELECT data FROM entries WHERE idx = ?", (idx,))[0][0])


def _set_data(d: Path, idx: int, data: bytes) -> None:
    sql(d, "UPDATE entries SET data = ? WHERE idx = ?", params=(data, idx))


def _record(t: Truth, idx: int) -> dict:
    return json.loads(t.entries[idx])


def _contribution(t: Truth) -> dict:
    return next(r for r in t.records if r["type"] == "contribution")


# ---- entries: the derived columns ---------------------------------------------------


@case("entries.record_id forged (issue 22, 1)", "entry_column_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE entries SET record_id = 'forged' WHERE idx = 378")


@case("entries.pwid changed", "entry_column_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE entries SET pwid = 'MM-0000000000000000' WHERE idx = 100")


@case("entries.type changed", "entry_column_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE entries SET type = 'entitlement' WHERE idx = 101")


@case("entries.pwid of a pending entry changed", "entry_column_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE entries SET pwid = 'MM-0000000000000000' WHERE idx = ?", params=(t.size + 5,))


@case("entries.record_id of a pending entry changed", "entry_column_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE entries SET record_id = 'other' WHERE idx = ?", params=(t.size + 1,))


@case("entries.record_id of two rows swapped", "entry_column_mismatch")
def _(d: Path, t: Truth) -> None:
    a, b = _record(t, 10)["id"], _record(t, 11)["id"]
    sql(d, "UPDATE entries SET record_id = 'tmp' WHERE idx = 10")
    sql(d, "UPDATE entries SET record_id = ? WHERE idx = 11", params=(a,))
    sql(d, "UPDATE entries SET record_id = ? WHERE idx = 10", params=(b,))


@case("entries.type of an amendment changed to contribution", "entry_column_mismatch")
def _(d: Path, t: Truth) -> None:
    idx = next(i for i, r in enumerate(t.records) if r["type"] == "amendment")
    sql(d, "UPDATE entries SET type = 'contribution' WHERE idx = ?", params=(idx,))


# ---- entries: the entries themselves ------------------------------------------------


@case("entries.data: a byte of a full tile's entry", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    data = bytearray(_data(d, 5))
    data[40] ^= 0x01
    _set_data(d, 5, bytes(data))


@case("entries.data: a byte of the partial tile's entry", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    data = bytearray(_data(d, 600))
    data[-3] ^= 0x01
    _set_data(d, 600, bytes(data))


@case("entries.data emptied", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    _set_data(d, 7, b"")


@case("entries.data: another entry's bytes", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    _set_data(d, 3, t.entries[4])


@case("entries.data of a pending entry: not a valid record", "entry_not_record")
def _(d: Path, t: Truth) -> None:
    idx = t.size + 3
    _set_data(d, idx, _data(d, idx).replace(b'"v":1', b'"v":2'))


@case("entries.data of a pending entry: another record's signature", "entry_bad_signature")
def _(d: Path, t: Truth) -> None:
    idx = t.size + 4
    mine, other = _record(t, idx)["sig"], _record(t, idx + 1)["sig"]
    _set_data(d, idx, _data(d, idx).replace(mine.encode(), other.encode()))


@case("entries.data of a pending entry: truncated", "entry_not_record")
def _(d: Path, t: Truth) -> None:
    idx = t.size + 6
    _set_data(d, idx, _data(d, idx)[:-20])


@case("entries.idx of a row moved far away", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE entries SET idx = 5000 WHERE idx = 200")


@case("entries.idx of two integrated rows swapped", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE entries SET idx = -1 WHERE idx = 20")
    sql(d, "UPDATE entries SET idx = 20 WHERE idx = 21")
    sql(d, "UPDATE entries SET idx = 21 WHERE idx = -1")


@case("entries: an integrated row deleted", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM entries WHERE idx = 300")


@case("entries: a pending row deleted", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM entries WHERE idx = ?", params=(t.size + 5,))


@case("entries: the last row deleted", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM entries WHERE idx = ?", params=(len(t.entries) - 1,))


@case("entries: every row deleted", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM entries")


@case("entries: a row past next_index (issue 22, 4)", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    entry = signed_entry(d, f.with_issuer(f.contribution(), AGENCY))
    record = json.loads(entry)
    sql(
        d,
        "INSERT INTO entries (idx, record_id, pwid, type, data) VALUES (?, ?, ?, ?, ?)",
        params=(len(t.entries) + 5, record["id"], record["pwid"], "contribution", entry),
    )


@case("entries: a pending row without raising next_index", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    append_row(d, signed_entry(d, f.with_issuer(f.contribution(), AGENCY)), raise_next=False)


@case("entries: a forged pending row (issue 22, 5)", "entry_bad_signature")
def _(d: Path, t: Truth) -> None:
    record = dict(_contribution(t), id="forged-1", pwid="MM-0000000000000000")
    append_row(d, json.dumps(record, separators=(",", ":"), sort_keys=True).encode())


@case("entries: a pending row signed by another key", "entry_bad_signature")
def _(d: Path, t: Truth) -> None:
    entry = signed_entry(d, f.with_issuer(f.contribution(), AGENCY), SigningKey.generate())
    append_row(d, entry)


@case("entries: a pending row of another agency", "entry_foreign_issuer")
def _(d: Path, t: Truth) -> None:
    entry = signed_entry(d, f.with_issuer(f.contribution(), "TH-SSO"), SigningKey.generate())
    append_row(d, entry)


@case("entries: a signed amendment of a record not in the log", "entry_bad_target")
def _(d: Path, t: Truth) -> None:
    target = dict(_contribution(t), id="no-such-record")
    append_row(d, signed_entry(d, f.with_issuer(f.amendment(target), AGENCY)))


@case("entries: a signed amendment of another worker's record", "entry_bad_target")
def _(d: Path, t: Truth) -> None:
    target = _contribution(t)
    amend = f.with_issuer(f.amendment(target, pwid="MM-0000000000000000"), AGENCY)
    append_row(d, signed_entry(d, amend))


@case("entries: a signed record outside the schema", "entry_not_record")
def _(d: Path, t: Truth) -> None:
    append_row(d, signed_entry(d, f.with_issuer(f.contribution(extra="x"), AGENCY)))


@case("entries: a signed record in non-canonical JSON", "entry_not_record")
def _(d: Path, t: Truth) -> None:
    entry = signed_entry(d, f.with_issuer(f.contribution(), AGENCY))
    append_row(d, json.dumps(json.loads(entry), indent=1).encode())


@case("entries: a replayed record under another id", "entry_column_mismatch")
def _(d: Path, t: Truth) -> None:
    append_row(d, t.entries[50], record_id="replay-1")


# ---- log_state ----------------------------------------------------------------------


@case("log_state.next_index + 10 (issue 22, 3)", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE log_state SET next_index = next_index + 10")


@case("log_state.next_index - 1", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE log_state SET next_index = next_index - 1")


@case("log_state.next_index = tree_size", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE log_state SET next_index = tree_size")


@case("log_state.next_index negative", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE log_state SET next_index = -1")


@case("log_state.tree_size + 1", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE log_state SET tree_size = tree_size + 1")


@case("log_state.tree_size - 256", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE log_state SET tree_size = tree_size - 256")


@case("log_state row deleted", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM log_state")


@case("log_state: a second row", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "INSERT INTO log_state (id, next_index, tree_size) VALUES (2, 0, 0)")


# ---- tiles and inner nodes ----------------------------------------------------------


def _flip_tile(d: Path, level: int, idx: int, pos: int) -> None:
    data = bytearray(query(d, "SELECT data FROM tiles WHERE level=? AND idx=?", (level, idx))[0][0])
    data[pos] ^= 0x01
    sql(d, "UPDATE tiles SET data = ? WHERE level=? AND idx=?", params=(bytes(data), level, idx))


@case("tiles: a byte of full tile 0/0", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    _flip_tile(d, 0, 0, 100)


@case("tiles: a byte of the partial tile 0/2", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    _flip_tile(d, 0, 2, 33)


@case("tiles: a byte of tile 1/0", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    _flip_tile(d, 1, 0, 0)


@case("tiles: the partial tile cut short", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE tiles SET data = substr(data, 1, 3200) WHERE level = 0 AND idx = 2")


@case("tiles: a full tile deleted", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM tiles WHERE level = 0 AND idx = 1")


@case("tiles: every tile deleted", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM tiles")


@case("tiles: a stray tile beyond the tree", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "INSERT INTO tiles (level, idx, data) VALUES (0, 9, ?)", params=(bytes(8192),))


@case("tiles: a stray level", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "INSERT INTO tiles (level, idx, data) VALUES (3, 0, ?)", params=(bytes(32),))


@case("tile_nodes: wrong inner nodes for tile 0/0", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    sql(d, "INSERT INTO tile_nodes (level, idx, data) VALUES (0, 0, ?)", params=(bytes(8128),))


@case("tile_nodes: a stray row", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "INSERT INTO tile_nodes (level, idx, data) VALUES (0, 7, ?)", params=(bytes(8128),))


# ---- checkpoints --------------------------------------------------------------------


@case("checkpoints: a byte of the latest note", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    note = bytearray(t.note)
    note[-10] ^= 0x01
    sql(d, "UPDATE checkpoints SET note = ? WHERE size = ?", params=(bytes(note), t.size))


@case("checkpoints: an older root", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE checkpoints SET root = ? WHERE size = 250", params=(bytes(32),))


@case("checkpoints: an older note replaced by the latest", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    sql(d, "UPDATE checkpoints SET note = ? WHERE size = 250", params=(t.note,))


@case("checkpoints: the latest deleted", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM checkpoints WHERE size = ?", params=(t.size,))


@case("checkpoints: every one deleted", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DELETE FROM checkpoints")


@case("checkpoints: a larger one inserted", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    sql(
        d,
        "INSERT INTO checkpoints (size, root, note, published_at) VALUES (?, ?, ?, ?)",
        params=(t.size + 10, bytes(32), t.note, "2026-01-01 00:00:00"),
    )


# ---- schema -------------------------------------------------------------------------


@case("index ix_entries_pwid dropped", REPAIRED)
def _(d: Path, t: Truth) -> None:
    sql(d, "DROP INDEX ix_entries_pwid")


@case("index dropped and a pwid changed under it", "entry_column_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DROP INDEX ix_entries_pwid")
    sql(d, "UPDATE entries SET pwid = 'MM-0000000000000000' WHERE idx = 40")


@case("table tile_nodes dropped", REPAIRED)
def _(d: Path, t: Truth) -> None:
    sql(d, "DROP TABLE tile_nodes")


@case("table checkpoints dropped", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DROP TABLE checkpoints")


@case("table entries dropped", "log_state_mismatch")
def _(d: Path, t: Truth) -> None:
    sql(d, "DROP TABLE entries")


# ---- bytes of the database file -----------------------------------------------------


def _pwid_in_index(d: Path, t: Truth, idx: int) -> int:
    return occurrences(db_path(d), _record(t, idx)["pwid"].encode(), INDEX_LEAF)[0]


@case("file: a byte of the pwid index (issue 22, 2)", "index_damaged")
def _(d: Path, t: Truth) -> None:
    flip_file(db_path(d), _pwid_in_index(d, t, 584) + 8)


@case("file: a byte of the record-id index", "index_damaged")
def _(d: Path, t: Truth) -> None:
    at = occurrences(db_path(d), _record(t, 123)["id"].encode(), INDEX_LEAF)[0]
    flip_file(db_path(d), at + 30)


@case("file: a byte of a pwid column", "index_damaged")
def _(d: Path, t: Truth) -> None:
    pwid = _record(t, 222)["pwid"].encode()
    path = db_path(d)
    data = path.read_bytes()
    at = next(o for o in occurrences(path, pwid, TABLE_LEAF) if data[o - 8 : o] != b'"pwid":"')
    flip_file(path, at + 10)


@case("file: a byte of an integrated entry", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    record_id = _record(t, 333)["id"].encode()
    flip_file(db_path(d), occurrences(db_path(d), record_id, TABLE_LEAF)[-1] - 20)


@case("file: a byte of a pending entry's signature", "entry_bad_signature")
def _(d: Path, t: Truth) -> None:
    sig = _record(t, t.size + 7)["sig"].encode()
    flip_file(db_path(d), occurrences(db_path(d), sig)[0] + 5, 0x02)


@case("file: a byte of tile 0/0", "integrity_failure")
def _(d: Path, t: Truth) -> None:
    leaf = hash_leaf(t.entries[9])
    (at,) = occurrences(db_path(d), leaf)
    flip_file(db_path(d), at + 3)


@case("file: the type byte of an entries page", "database_damaged")
def _(d: Path, t: Truth) -> None:
    at = occurrences(db_path(d), _record(t, 300)["id"].encode(), TABLE_LEAF)[0]
    size = page_size(db_path(d))
    flip_file(db_path(d), at // size * size, 0xFF)


@case("file: a page of entries zeroed", "database_damaged")
def _(d: Path, t: Truth) -> None:
    path = db_path(d)
    at = occurrences(path, _record(t, 450)["id"].encode(), TABLE_LEAF)[0]
    size = page_size(path)
    with open(path, "r+b") as raw:
        raw.seek(at // size * size)
        raw.write(bytes(size))


@case("file: the last page cut off", "database_damaged")
def _(d: Path, t: Truth) -> None:
    path = db_path(d)
    os.truncate(path, path.stat().st_size - page_size(path))


@case("file: cut in half", "database_damaged")
def _(d: Path, t: Truth) -> None:
    path = db_path(d)
    os.truncate(path, path.stat().st_size // 2)


@case("file: the header's magic changed", "database_damaged")
def _(d: Path, t: Truth) -> None:
    flip_file(db_path(d), 3, 0x20)


# ---- the tile-node file -------------------------------------------------------------


@case("tile-node file: a bit of slot 0's tile (issue 22, 6)", "tile_file_damaged")
def _(d: Path, t: Truth) -> None:
    flip_slot(d, 0, 77)


@case("tile-node file: a bit of slot 0's inner nodes", "tile_file_damaged")
def _(d: Path, t: Truth) -> None:
    flip_slot(d, 0, TILE_WIDTH * 32 + 5)


@case("tile-node file: a bit of the last slot's inner nodes", "tile_file_damaged")
def _(d: Path, t: Truth) -> None:
    flip_slot(d, 1, TILE_WIDTH * 32 + 4000)


@case("tile-node file: the header's count", REPAIRED)
def _(d: Path, t: Truth) -> None:
    flip_file(tile_file(d), 23)


@case("tile-node file: the header's root", REPAIRED)
def _(d: Path, t: Truth) -> None:
    flip_file(tile_file(d), 60)


@case("tile-node file: deleted", REPAIRED)
def _(d: Path, t: Truth) -> None:
    tile_file(d).unlink()


@case("tile-node file: cut to its header", REPAIRED)
def _(d: Path, t: Truth) -> None:
    os.truncate(tile_file(d), HEADER_SIZE)


@case("tile-node file: garbage", REPAIRED)
def _(d: Path, t: Truth) -> None:
    path = tile_file(d)
    path.write_bytes(os.urandom(path.stat().st_size))


# ---- the campaign -------------------------------------------------------------------


def start_up(directory: Path, truth: Truth) -> str:
    """What the default start-up check makes of the node: the refusal's code, or
    ``repaired`` once every answer is checked against the truth."""
    try:
        node = Node.open(directory)
    except PelError as exc:
        assert "\n" not in exc.message
        return exc.code
    try:
        try:
            node.check()
        except PelError as exc:
            assert "\n" not in exc.message
            return exc.code
        try:
            answers_hold_for(node, truth)
        except AssertionError as exc:
            return f"WRONG ANSWER after a passed check: {exc!r}"[:200]
        return REPAIRED
    finally:
        node.stop()


def test_the_untouched_node_passes_and_answers(
    template: tuple[Path, Truth], tmp_path: Path
) -> None:
    directory = copy_node(template[0], tmp_path / "n")
    assert start_up(directory, template[1]) == REPAIRED


def test_tamper_campaign(
    template: tuple[Path, Truth], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, truth = template
    results: dict[str, str] = {}
    for n, (name, (_, tamper)) in enumerate(sorted(CASES.items())):
        directory = copy_node(source, tmp_path / f"c{n}")
        tamper(directory, truth)
        try:
            results[name] = start_up(directory, truth)
        except Exception as exc:  # not a clean refusal: reported with the rest
            results[name] = f"crash: {type(exc).__name__}: {exc}"[:300]
    assert len(CASES) >= 50
    detected = [n for n, got in results.items() if got == CASES[n][0]]
    repaired = sum(1 for n in detected if results[n] == REPAIRED)
    with capsys.disabled():
        print(
            f"\ntamper campaign: {len(detected)}/{len(CASES)} changes detected "
            f"({len(detected) - repaired} refused with their code, {repaired} repaired "
            "without loss)"
        )
    wrong = {n: (CASES[n][0], got) for n, got in results.items() if got != CASES[n][0]}
    assert not wrong, wrong


# ---- index nodes: rebuilt from the entries --------------------------------------------

INDEX_DAMAGE = sorted(n for n in CASES if n.startswith(("index_nodes:", "table index_nodes")))


@pytest.mark.parametrize("name", INDEX_DAMAGE)
def test_damaged_index_nodes_are_rebuilt_from_the_entries_by_pel_check_repair(
    template: tuple[Path, Truth], tmp_path: Path, name: str
) -> None:
    """Refused by default (someone changed them), the index nodes are written again by
    ``--repair`` from the entries: every checkpoint's tree, each one's root the signed
    one, so every index proof of every checkpoint verifies again."""
    source, truth = template
    directory = copy_node(source, tmp_path / "n")
    CASES[name][1](directory, truth)
    node = Node.open(directory)
    try:
        report = node.check(repair=True)
        assert any(r.startswith("index nodes rebuilt from the entries") for r in report.repaired)
        assert node.check().repaired == []
        pwids = sorted({r.get("pwid", "") for r in truth.records})
        for size in (250, 500, 700):
            note = node.log.checkpoint_note(size)
            root = parse_extension(node.log.open_own(note).checkpoint.extensions)
            assert root is not None
            for pwid in pwids[::7]:
                verify_index_proof(node.log.index_proof(pwid, size), pwid, root)
        answers_hold_for(node, truth)
    finally:
        node.stop()


# ---- the eight changes of issue 22, one by one ----------------------------------------

ISSUE_22 = [
    "entries.record_id forged (issue 22, 1)",
    "file: a byte of the pwid index (issue 22, 2)",
    "entries.pwid changed",
    "entries.type changed",
    "log_state.next_index + 10 (issue 22, 3)",
    "entries: a row past next_index (issue 22, 4)",
    "entries: a forged pending row (issue 22, 5)",
    "tile-node file: a bit of slot 0's tile (issue 22, 6)",
]


def _no_server(*_: object, **__: object) -> None:
    raise AssertionError("pel serve went past its start-up check")


@pytest.mark.parametrize("name", ISSUE_22)
def test_the_eight_changes_of_issue_22_are_refused_at_start_up_and_by_pel_check(
    template: tuple[Path, Truth], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    source, truth = template
    expect, tamper = CASES[name]
    directory = copy_node(source, tmp_path / "n")
    tamper(directory, truth)

    node = Node.open(directory)
    try:
        with pytest.raises(PelError) as caught:
            node.check()
        assert caught.value.code == expect, caught.value.message
    finally:
        node.stop()

    runner = CliRunner()
    for args in (["check", str(directory)], ["serve", str(directory), "--port", "1"]):
        monkeypatch.setattr("pel.node.cli.run.make_server", _no_server)
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert lines[0].endswith(f"[{expect}]"), result.stderr
        assert "Traceback" not in result.stdout + result.stderr


def test_a_damaged_tile_node_file_serves_no_wrong_proof_after_a_quick_check(
    template: tuple[Path, Truth], tmp_path: Path
) -> None:
    """Under ``--quick-check`` the file's slots are not compared at start-up: each is
    compared with the database the first time a proof uses it, and a wrong one is left
    for the database's own tile."""
    source, truth = template
    directory = copy_node(source, tmp_path / "n")
    for slot in (0, 1):
        flip_slot(directory, slot, 77 + slot * 9000)
    node = Node.open(directory)
    try:
        report = node.check(full=False)
        assert not report.full and report.pending == 20 and report.signatures == 20
        root = node.log.latest().checkpoint.root
        for idx in range(truth.size):
            proof = node.log.inclusion_proof(idx, truth.size)
            verify_inclusion(idx, truth.size, hash_leaf(truth.entries[idx]), proof, root)
        with pytest.raises(PelError) as caught:  # the full check names the file
            node.check(full=True)
        assert caught.value.code == "tile_file_damaged"
        report = node.check(full=True, repair=True)
        assert report.repaired == ["tile-node file written again from tile 0/0"]
    finally:
        node.stop()
    result = CliRunner().invoke(app, ["check", str(directory)])
    assert result.exit_code == 0, result.stderr
    assert "730 entries' columns checked" in result.stdout


def test_a_damaged_log_found_while_running_takes_no_more_records(
    template: tuple[Path, Truth], tmp_path: Path
) -> None:
    """Changed behind a running node: no checkpoint is signed over a forged entry, and
    no record is acknowledged after it (503 with a code, never 500)."""
    source, truth = template
    directory = copy_node(source, tmp_path / "n")
    node = Node.open(directory)
    try:
        node.check()
        before = node.log.latest().note
        record = dict(_contribution(truth), id="forged-2")
        append_row(directory, json.dumps(record, separators=(",", ":"), sort_keys=True).encode())
        with pytest.raises(PelError) as caught:
            node.log.integrate()
        assert caught.value.code == "entry_bad_signature"
        assert node.log.latest().note == before
        with pytest.raises(PelError) as caught:
            node.submit([f.contribution()])
        assert (caught.value.code, caught.value.http_status) == ("log_halted", 503)
    finally:
        node.stop()


def test_a_row_put_past_next_index_while_running_is_a_503_not_a_500(
    template: tuple[Path, Truth], tmp_path: Path
) -> None:
    directory = copy_node(template[0], tmp_path / "n")
    node = Node.open(directory)
    try:
        node.check()
        entry = signed_entry(directory, f.with_issuer(f.contribution(), AGENCY))
        append_row(directory, entry, raise_next=False)
        with pytest.raises(PelError) as caught:
            node.submit([f.contribution()])
        assert (caught.value.code, caught.value.http_status) == ("log_state_mismatch", 503)
    finally:
        node.stop()


def test_pel_check_says_what_it_mended_and_serve_help_what_quick_does_not_check(
    template: tuple[Path, Truth], tmp_path: Path
) -> None:
    directory = copy_node(template[0], tmp_path / "n")
    sql(directory, "DROP INDEX ix_entries_pwid")
    result = CliRunner().invoke(app, ["check", str(directory)])
    assert result.exit_code == 0, result.stderr
    assert "repaired: index ix_entries_pwid made again" in result.stdout
    assert "SQLite integrity_check: ok" in result.stdout
    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("\u2502", " ").split())
    assert "NOT checked: integrated and mirrored entries are not rehashed" in text
