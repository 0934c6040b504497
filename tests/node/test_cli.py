"""The ``pel`` command line: init, synth, submit, verify, check, and clean failures."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from pel.api.app import create_app
from pel.node.agency_node import Node
from pel.node.cli import app
from tests import factories as f
from tests.conftest import serve

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def node_dir(tmp_path: Path) -> tuple[Path, dict]:
    code, out, err = run(
        "init", str(tmp_path / "n"), "--agency", "TH-SSO", "--origin", "sso.go.th/pel", "--json"
    )
    assert code == 0, err
    return tmp_path / "n", json.loads(out)


@pytest.fixture
def served(node_dir: tuple[Path, dict]) -> Iterator[tuple[str, Node, dict]]:
    directory, info = node_dir
    node = Node.open(directory)
    with serve(create_app(node)) as url:
        yield url, node, info
    node.stop()


def test_init_keys_and_token(node_dir: tuple[Path, dict]) -> None:
    directory, info = node_dir
    assert set(info) == {"origin", "log_vkey", "issuer_key", "witness_vkey", "token"}
    assert info["witness_vkey"].startswith("sso.go.th/witness+")
    assert info["log_vkey"].startswith("sso.go.th/pel+")
    for pem in (directory / "keys").iterdir():
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    # The token is shown once and stored nowhere in the clear.
    for path in directory.rglob("*"):
        if path.is_file():
            assert info["token"].encode() not in path.read_bytes(), path
    code, _, err = run("init", str(directory), "--agency", "TH-SSO", "--origin", "x/y")
    assert code == 1 and "already holds a node" in err and "Traceback" not in err
    code, _, err = run("init", str(directory.parent / "m"), "--agency", "thai", "--origin", "x")
    assert code == 1 and "bad_config" in err


def test_synth_writes_valid_drafts(tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    code, _, err = run("synth", "--agency", "MY-PERKESO", "--records", "50", "--out", str(out))
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert len(lines) == 50
    from pel.ledger.records import validate_record

    for line in lines:
        validate_record({**json.loads(line), "issuer": "MY-PERKESO"}, signed=False)


def test_submit_jsonl_reports_refused_rows(served: tuple[str, Node, dict], tmp_path: Path) -> None:
    url, node, info = served
    good = [f.contribution(body={"currency": "THB"}) for _ in range(30)]
    rows = [json.dumps(r) for r in good]
    rows.insert(3, "{not json")
    rows.insert(10, json.dumps(f.contribution(body={"period": "2026-13"})))
    rows.insert(20, json.dumps(f.contribution(type="pension")))
    filing = tmp_path / "filing.jsonl"
    filing.write_text("\n".join(rows) + "\n")
    report = tmp_path / "refused.jsonl"
    code, out, err = run(
        "submit",
        url,
        str(filing),
        "--token",
        info["token"],
        "--batch",
        "7",
        "--report",
        str(report),
    )
    assert code == 2, err
    assert "30 appended, 0 already in the log, 3 refused" in out
    refused = [json.loads(x) for x in report.read_text().splitlines()]
    assert sorted(r["line"] for r in refused) == [4, 11, 21]
    assert {r["code"] for r in refused} == {"bad_json", "bad_period", "unknown_type"}
    assert node.log.state()[0] == 30
    # Again: everything already there, nothing appended twice.
    code, out, _ = run("submit", url, str(filing), "--token", info["token"])
    assert code == 2 and node.log.state()[0] == 30
    assert "0 appended, 30 already in the log, 3 refused" in out
    code, _, err = run("submit", url, str(filing), "--token", "pel_wrong")
    assert code == 1 and "unauthorized" in err and "Traceback" not in err


def test_submit_csv(served: tuple[str, Node, dict], tmp_path: Path) -> None:
    url, node, info = served
    filing = tmp_path / "filing.csv"
    filing.write_text(
        "type,id,pwid,issued_at,body.employer,body.period,body.insured_earnings,"
        "body.currency,body.contributions.old_age,body.contributions.sickness\n"
        "contribution,c-1,MM-7K3Q9X2M4T8V1B5N,2026-11-01T00:00:00Z,EMP-0001,2026-10,15000.00,"
        "THB,900.00,450.00\n"
        "contribution,c-2,MM-7K3Q9X2M4T8V1B5N,2026-11-01T00:00:00Z,EMP-0001,2026-10,15000.00,"
        "BAHT,900.00,450.00\n"
    )
    code, _, err = run("submit", url, str(filing), "--token", info["token"])
    assert code == 2 and "bad_currency" in err
    assert node.log.state()[0] == 1
    record = json.loads(node.log.entry(0))
    assert record["body"]["contributions"] == {"old_age": "900.00", "sickness": "450.00"}


def _fill(url: str, info: dict, tmp_path: Path, n: int = 600) -> None:
    filing = tmp_path / "synth.jsonl"
    assert run("synth", "--agency", "TH-SSO", "--records", str(n), "--out", str(filing))[0] == 0
    code, _, err = run("submit", url, str(filing), "--token", info["token"])
    assert code == 0, err


def _wait_integrated(node: Node) -> None:
    assert node.sequencer is not None
    assert node.sequencer.wait_for(node.log.state()[0], 30)


def test_verify_passes_on_an_honest_log(served: tuple[str, Node, dict], tmp_path: Path) -> None:
    url, node, info = served
    _fill(url, info, tmp_path)
    _wait_integrated(node)
    code, out, err = run(
        "verify",
        url,
        "--vkey",
        info["log_vkey"],
        "--issuer-key",
        info["issuer_key"],
        "--token",
        info["token"],
    )
    assert code == 0, err
    assert "600 entries rehashed" in out and "100 inclusion proofs" in out
    code, _, err = run("verify", url, "--vkey", Node.open.__name__ + "+00000000+AQ==")
    assert code == 1 and "Traceback" not in err


TAMPER = [
    ("entries", "data", "idx = 5"),
    ("entries", "data", "idx = 599"),
    ("tiles", "data", "level = 0 AND idx = 1"),
    ("tiles", "data", "level = 1 AND idx = 0"),
]


@pytest.mark.parametrize(("table", "column", "where"), TAMPER)
@pytest.mark.parametrize("pos", [1, 40])
def test_verify_and_startup_check_report_a_changed_byte(
    node_dir: tuple[Path, dict], tmp_path: Path, table: str, column: str, where: str, pos: int
) -> None:
    directory, info = node_dir
    node = Node.open(directory)
    with serve(create_app(node)) as url:
        _fill(url, info, tmp_path)
        _wait_integrated(node)
    node.stop()
    with node.engine.begin() as conn:
        data = bytearray(conn.execute(text(f"SELECT {column} FROM {table} WHERE {where}")).scalar())
        data[pos] ^= 0x20
        conn.execute(text(f"UPDATE {table} SET {column} = :d WHERE {where}"), {"d": bytes(data)})
    node.engine.dispose()

    # The start-up check refuses the log: `pel check` and `pel serve` exit 1.
    code, _, err = run("check", str(directory))
    assert code == 1 and "integrity_failure" in err, err
    code, _, err = run("serve", str(directory), "--port", "1")
    assert code == 1 and "integrity_failure" in err, err

    # Served anyway (as if changed behind a running node), `pel verify` reports it.
    tampered = Node.open(directory)
    try:
        with serve(create_app(tampered, check=False)) as url:
            code, _, err = run("verify", url, "--vkey", info["log_vkey"], "--token", info["token"])
        assert code == 1, err
        assert "integrity_failure" in err or "root_mismatch" in err, err
    finally:
        tampered.stop()
