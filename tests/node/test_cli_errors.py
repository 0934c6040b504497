"""Every ``pel`` command given bad arguments — missing files, bad URLs, bad JSON, files
that are not text, unusable databases — ends with one ``error: <message> [<code>]``
line and a non-zero exit, never a traceback; files holding secrets are mode 0600."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pel.node.cli import app
from pel.node.demo.run import ORIGINS, setup_federation

runner = CliRunner()
VKEY = "sso.go.th/pel+d46d781d+AdH1Fnjv6J1WykN3uXf9xMJJqDoazMuvsBBY4ONPJs5z"
ERROR_LINE = re.compile(r"^error: .+ \[[a-z_]+\]$", re.MULTILINE)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    code = runner.invoke(
        app, ["init", str(tmp_path / "nd"), "--agency", "TH-SSO", "--origin", "sso.go.th/pel"]
    ).exit_code
    assert code == 0
    (tmp_path / "bad.json").write_text("{bad")
    (tmp_path / "arr.json").write_text("[1, 2]")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "adir").mkdir()
    return tmp_path


CASES = [
    "init {d}/n3 --agency TH-SSO --origin sso.go.th/pel --database notaurl",
    "init {d}/n4 --agency TH-SSO --origin sso.go.th/pel --database postgresql://x@127.0.0.1:1/x",
    "init {d}/n5 --agency TH-SSO --origin sso.go.th/pel --database mysql://x/y",
    "init {d}/n6 --agency thai --origin x",
    "serve {d}/missing",
    "check {d}/bad.json",
    "synth --agency TH-SSO --records 3 --out {d}/adir",
    "submit http://127.0.0.1:1 {d}/missing.json --token x",
    "submit http://[::1 {d}/arr.json --token x",
    "submit notaurl {d}/arr.json --token x",
    "submit ftp://x {d}/arr.json --token x",
    "submit http://127.0.0.1:1 {d}/bin.json --token x",
    "verify http://[::1 --vkey " + VKEY,
    "verify http://127.0.0.1:1 --vkey garbage",
    "verify http://127.0.0.1:1 --vkey " + VKEY,
    "federation member {d}/missing --url http://x --name X",
    "federation init {d}/out.json --name X --member {d}/missing.json",
    "federation init {d}/out.json --name X --member {d}/bad.json",
    "federation init {d}/out.json --name X --member {d}/arr.json",
    "federation init {d}/out.json --name X --member {d}/bin.json",
    "federation sign {d}/bad.json --directory {d}/nd",
    "federation apply {d}/nd {d}/arr.json",
    "federation show {d}/nd",
    "evidence verify {d}/bin.json --trust {d}/bin.json",
    "mirror status {d}/bad.json",
    "web verifier --trust {d}/arr.json --out {d}/x.html",
    "audit notaurl --state {d}/st --trust {d}/bad.json",
    "audit http://127.0.0.1:1 --state {d}/st --vkey x --issuer-key y",
    "bundle MM-7K3Q9X2M4T8V1B5N --trust {d}/bad.json --out {d}/b.json --token x",
    "verify-bundle {d}/bin.json --trust {d}/bin.json",
    "verify-bundle {d}/missing.json --trust {d}/missing.json",
    "verify-bundle {d}/adir --trust {d}/adir",
]


@pytest.mark.parametrize("line", CASES)
def test_bad_arguments_end_in_one_error_line(files: Path, line: str) -> None:
    result = runner.invoke(app, line.format(d=files).split())
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert ERROR_LINE.search(result.stderr), result.stderr


def test_a_refused_database_leaves_no_node_behind(files: Path) -> None:
    for url in ("notaurl", "postgresql://x:hunter2@127.0.0.1:1/x"):
        result = runner.invoke(
            app,
            ["init", str(files / "n"), "--agency", "TH-SSO", "--origin", "o/p", "--database", url],
        )
        assert result.exit_code == 1
        assert "hunter2" not in result.output  # a password in the URL is not repeated
        assert not (files / "n").exists()


def test_secret_files_are_mode_0600(tmp_path: Path) -> None:
    demo = setup_federation(tmp_path / "demo", ["TH-SSO", "MY-PERKESO"], ports=[1, 2], quorum=1)
    for n in demo.nodes:
        assert ORIGINS[n.agency] == n.origin
        secrets = [n.directory / "token", n.directory / "node.json"]
        secrets += sorted((n.directory / "keys").iterdir())
        assert len(secrets) == 6  # token, node.json, issuer, log and two witness keys
        for path in secrets:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # node.json keeps its mode when it is written again (the trust list's genesis pin).
    config = demo.nodes[0].directory / "node.json"
    assert json.loads(config.read_text())["federation_genesis"]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
