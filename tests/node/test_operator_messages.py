"""What an agency's operator reads: each message a first run meets, worded once and right.

One test per rough edge: a short CSV row, the API's error wording, a busy port, a bad
agency id, the audit's witness line, the demo's summary when piped and after
``--exit-after``, where ``pel quickstart`` kept the token, what ``pel synth --out`` wrote,
and how ``make`` says to call ``pel``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from pel.api.app import create_app
from pel.node.agency_node import Node
from pel.node.cli.verify import cosignature_summary
from pel.node.demo.asean import agency_for
from pel.node.demo.command import pel_command
from pel.node.demo.quickstart import quickstart
from pel.node.demo.run import DEMO_ORDER, DemoResult
from pel.node.demo.view import print_career, print_summary
from pel.node.filings.reader import read_filing
from tests import factories as f
from tests.conftest import free_port
from tests.node.test_cli import node_dir, run, served  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
ERROR_LINE = re.compile(r"^error: .+ \[[a-z_]+\]$")

HEADER = (
    "type,id,pwid,issued_at,body.employer,body.period,body.insured_earnings,"
    "body.currency,body.contributions.old_age,body.contributions.sickness\n"
)
GOOD = (
    "contribution,c-{n},MM-7K3Q9X2M4T8V1B5N,2026-11-01T00:00:00Z,EMP-0001,2026-10,15000.00,"
    "THB,900.00,450.00\n"
)


def test_a_short_csv_row_is_reported_once_as_short(
    served: tuple[str, Node, dict],  # noqa: F811
    tmp_path: Path,
) -> None:
    url, node, info = served
    filing = tmp_path / "filing.csv"
    filing.write_text(
        HEADER
        + GOOD.format(n=1)
        + "contribution,c-2,MM-7K3Q9X2M4T8V1B5N,2026-11-01T00:00:00Z,EMP-0001\n"
        + GOOD.format(n=3)
        + GOOD.format(n=4).rstrip("\n")
        + ",1.00\n"
    )
    rows = list(read_filing(filing))
    assert [line for line, _ in rows] == [2, 3, 4, 5]
    short, long = rows[1][1], rows[3][1]
    assert short.code == "bad_csv" and short.message == (
        "row has 5 cells, fewer than the header's 10"
    )
    assert long.message == "row has 11 cells, more than the header's 10"
    code, _, err = run("submit", url, str(filing), "--token", info["token"])
    assert code == 2 and node.log.state()[0] == 2
    lines = err.splitlines()
    assert "line 3: row has 5 cells, fewer than the header's 10 [bad_csv]" in lines
    assert "line 5: row has 11 cells, more than the header's 10 [bad_csv]" in lines
    assert err.count("line 3") == 1 and "line 3: line 3" not in err


def test_json_errors_say_what_is_wrong_once_in_json_terms(tmp_path: Path) -> None:
    node_dir_ = tmp_path / "n"
    code, out, err = run(
        "init", str(node_dir_), "--agency", "TH-SSO", "--origin", "sso.go.th/pel", "--json"
    )
    assert code == 0, err
    token = json.loads(out)["token"]
    node = Node.open(node_dir_)
    try:
        client = TestClient(create_app(node))
        auth = {"Authorization": f"Bearer {token}"}

        def refusal(**changes: object) -> dict:
            draft = {**f.contribution(body={"currency": "THB"}), **changes}
            draft.pop("issuer", None)
            draft.pop("sig", None)
            r = client.post("/v1/records", json=[draft], headers=auth)
            assert r.status_code == 422, r.text
            return r.json()["error"]["records"][0]

        cases = [
            (refusal(v="1"), "bad_value", "v: must be 1"),
            (refusal(v=True), "wrong_type", "v: must be the number 1"),
            (refusal(body=[]), "wrong_type", "body: must be a JSON object"),
        ]
        for problem, code_, message in cases:
            assert (problem["code"], problem["message"]) == (code_, message)
        r = client.get("/v1/proof/inclusion", params={"tree_size": 1})
        assert r.status_code == 422
        assert r.json()["error"]["message"] == "missing query parameter 'index'"
        r = client.get("/v1/proof/inclusion", params={"index": "x", "tree_size": 1})
        assert r.json()["error"]["message"].startswith("query parameter 'index': must be")
        for text in (json.dumps(p) for p, _, _ in cases):
            assert "Input should" not in text and "Value error" not in text
            assert "Field required" not in text
    finally:
        node.stop()


def test_a_port_in_use_is_one_error_line(node_dir: tuple[Path, dict]) -> None:  # noqa: F811
    directory, _ = node_dir
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "pel.node.cli", "serve", str(directory), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert ERROR_LINE.match(last) and last.endswith("[port_in_use]"), done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in last


def test_a_bad_agency_id_is_explained(tmp_path: Path) -> None:
    code, _, err = run("init", str(tmp_path / "n"), "--agency", "XX-FOO", "--origin", "x.org/l")
    assert code == 1 and ERROR_LINE.match(err.strip()), err
    assert "ISO 3166-1 alpha-2 code of its country, '-', then 2-24 capitals or digits" in err
    assert "e.g. MY-PERKESO" in err and not (tmp_path / "n" / "node.json").exists()


def test_the_audit_counts_cosignatures_beside_the_quorum() -> None:
    many = cosignature_summary({"verified": [f"W{i}" for i in range(9)], "quorum": 5})
    assert many == "9 witness cosignatures verified (quorum 5 met)"
    assert "/" not in many
    one = cosignature_summary({"verified": ["W0"], "quorum": 2})
    assert one == "1 witness cosignature verified (quorum 2 NOT met)"


def _rows(n: int) -> list[dict]:
    agencies = list(DEMO_ORDER[:n])
    return [
        {
            "state": agency_for(a).state,
            "agency": a,
            "origin": f"{a.lower()}.social-security.example.gov/pel/log",
            "url": "http://127.0.0.1:1",
            "tree_size": 123_456 + i,
            "witnessed": True,
            "quorum": 5,
            "cosigners": [b for b in agencies if b != a],
            "mirrored_by": [b for b in agencies if b != a],
        }
        for i, a in enumerate(agencies)
    ]


def test_the_piped_demo_summary_is_whole_and_names_no_url_once_stopped(tmp_path: Path) -> None:
    rows = _rows(10)
    sample_urls = {r["agency"]: f"http://127.0.0.1:{9000 + i}" for i, r in enumerate(rows)}
    piped = tmp_path / "out.txt"
    with piped.open("w") as sink:
        console = Console(file=sink, soft_wrap=True)  # not a terminal: 80 columns
        assert not console.is_terminal
        print_summary(console, DemoResult(9.0, rows, 5, None, 500, {}, sample_urls, tmp_path))
    text = piped.read_text()
    assert "tree size" in text and "…" not in text
    for row in rows:
        line = next(x for x in text.splitlines() if f" {row['agency']} " in x)
        assert row["origin"] in line and str(row["tree_size"]) in line
        assert "9/9 " + " ".join(agency_for(a).country for a in row["cosigners"]) in line
    assert "http://127.0.0.1:9000/checkpoint" in text
    stopped = tmp_path / "stopped.txt"
    with stopped.open("w") as sink:
        result = DemoResult(9.0, rows, 5, None, 500, {}, sample_urls, tmp_path, serving=False)
        print_summary(Console(file=sink, soft_wrap=True), result)
    text = stopped.read_text()
    assert "http://" not in text
    assert f"the nodes are stopped (--exit-after); {pel_command()} demo --dir {tmp_path}" in text


def test_the_career_commands_name_pel_as_it_can_be_called_and_only_while_serving(
    tmp_path: Path,
) -> None:
    state = {"state": "TH", "months": 108, "totalised_months": 204, "outcome": "pension",
             "amount_due": "1826.47", "lump_sum": None, "currency": "THB"}  # fmt: skip
    decided = {"at": "2030-01-01", "agreements": ["A"], "states": [state]}
    career = {"pwid": "MM-9NTVWQXQJ8AT49C2", "records": 211,
              "without_agreement": decided, "with_agreement": decided}  # fmt: skip
    for serving in (True, False):
        out = tmp_path / f"career-{serving}.txt"
        with out.open("w") as sink:
            result = DemoResult(9.0, _rows(2), 1, None, 5, {}, {}, tmp_path, serving=serving)
            print_career(Console(file=sink, soft_wrap=True), career, result)
        text = out.read_text()
        assert "TH: 108 months (totalised 204): pension 1826.47 THB a month" in text
        commands = [line.strip() for line in text.splitlines() if "--trust" in line]
        if serving:
            assert len(commands) == 2
            assert all(c.startswith(pel_command() + " ") for c in commands), commands
        else:
            assert commands == []  # the nodes that would answer are stopped


def test_quickstart_says_where_the_token_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "qs"
    quickstart(directory, port=free_port(), records=20, agency="TH-SSO", exit_after=True)
    out = capsys.readouterr().out
    token_file = directory / "token"
    assert token_file.is_file() and (token_file.stat().st_mode & 0o777) == 0o600
    assert f"write token saved in {token_file} (mode 0600" in out
    assert "--exit-after: the node stops now" in out and "http://" not in out


def test_synth_out_says_what_it_wrote(tmp_path: Path) -> None:
    target = tmp_path / "d.jsonl"
    code, out, err = run("synth", "--agency", "MY-PERKESO", "--records", "25", "--out", str(target))
    assert code == 0, err
    size = target.stat().st_size
    assert f"wrote 25 record drafts for MY-PERKESO to {target} ({size:,} bytes)" in out
    # Without --out, stdout holds the records and nothing else.
    code, out, _ = run("synth", "--agency", "MY-PERKESO", "--records", "3")
    assert code == 0 and [json.loads(x)["type"] for x in out.splitlines()]


def test_make_says_how_to_call_pel_and_shows_install_progress() -> None:
    env = {**os.environ, "MAKEFLAGS": ""}
    install = subprocess.run(
        ["make", "-n", "-B", "install"], cwd=ROOT, capture_output=True, text=True, env=env
    ).stdout
    pip_lines = [x for x in install.splitlines() if "pip install" in x]
    assert pip_lines and all(" -q" not in x for x in pip_lines), install
    assert "installed: call pel as .venv/bin/pel, or run 'source .venv/bin/activate'" in install
    run_ = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, env=env
    ).stdout
    assert "pel is .venv/bin/pel (or 'source .venv/bin/activate', then pel)" in run_


def test_printed_commands_name_pel_as_it_can_be_called(tmp_path: Path) -> None:
    script = tmp_path / "venv" / "bin" / "pel"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    here = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert pel_command(str(script)) == os.path.join("venv", "bin", "pel")
    finally:
        os.chdir(here)
