"""docker-compose.yml and the Dockerfile, checked without a Docker engine: every command,
option, file, port and setting they name exists, and the nodes they describe start with
those settings (PostgreSQL databases mapped to schemas on 127.0.0.1:5432)."""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import typer
import yaml

from pel.node.cli import app
from pel.node.demo.run import DEMO_ORDER, ORIGINS, default_quorum, template_fields
from tests.conftest import PG_URL, free_port
from tests.node.test_cli import run

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
NODE_SERVICES = {a.lower(): a for a in DEMO_ORDER}
PEL_IMAGE = SERVICES["setup"]["image"]


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def parse_pel(args: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse a ``pel`` command line as the typer app would; return the command's path and
    its parameters. Raises (typer's click) UsageError on an unknown command or option."""
    command: Any = typer.main.get_command(app)
    names: list[str] = []
    rest = list(args)
    ctx = None
    while hasattr(command, "resolve_command"):  # a group: the next word names a command
        ctx = command.make_context("pel", rest, parent=ctx, resilient_parsing=False)
        # The words after the command's name (click keeps the name apart).
        words = [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]
        name, sub, rest = command.resolve_command(ctx, words)
        assert sub is not None, args
        names.append(str(name))
        command = sub
    final = command.make_context(names[-1], rest, parent=ctx)
    return " ".join(names), final.params


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def pel_services() -> dict[str, list[str]]:
    return {name: svc["command"] for name, svc in SERVICES.items() if svc.get("image") == PEL_IMAGE}


def test_the_image_runs_pel_from_the_copied_sources() -> None:
    steps = dockerfile()
    assert ("ENTRYPOINT", '["pel"]') in steps
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'pel = "pel.node.cli:app"' in pyproject
    copied = []
    for word, rest in steps:
        if word == "COPY":
            *sources, _dest = shlex.split(rest)
            copied += sources
            for src in sources:
                assert (ROOT / src).exists(), src
    # Every package the distribution includes is in the image.
    for folder in tomllib.loads(pyproject)["tool"]["setuptools"]["package-dir"].values():
        assert folder in copied
    assert ("EXPOSE", "8080") in steps
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not set(copied) & set(ignored)
    assert any(svc.get("build") == "." for svc in SERVICES.values())


def test_every_pel_command_and_option_exists() -> None:
    commands = pel_services()
    assert set(commands) == {"setup", "loader", *NODE_SERVICES}
    parsed = {name: parse_pel(args) for name, args in commands.items()}
    assert parsed["setup"][0] == "demo" and parsed["setup"][1]["init_only"] is True
    assert parsed["loader"][0] == "demo" and parsed["loader"][1]["load_only"] is True
    setup, loader = commands["setup"], commands["loader"]
    assert option(setup, "--dir") == option(loader, "--dir")
    assert option(setup, "--states") == option(loader, "--states") == str(len(DEMO_ORDER))
    for service, agency in NODE_SERVICES.items():
        name, params = parsed[service]
        assert name == "serve"
        assert str(params["directory"]) == f"{option(setup, '--dir')}/{agency}"
        assert params["host"] == "0.0.0.0" and params["port"] == 8080
        with pytest.raises(Exception) as refused:
            parse_pel([*commands[service], "--no-such-option"])
        assert "UsageError" in {c.__name__ for c in type(refused.value).__mro__}


def test_services_ports_volumes_and_dependencies_fit_together() -> None:
    setup = SERVICES["setup"]["command"]
    url_template, db_template = (
        option(setup, "--url-template"),
        option(setup, "--database-template"),
    )
    db = SERVICES["db"]
    init_sql = ""
    for volume in db["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            assert (ROOT / source).is_file(), source
            assert target.startswith("/docker-entrypoint-initdb.d/")
            init_sql += (ROOT / source).read_text()
    host_ports = []
    for service, agency in NODE_SERVICES.items():
        svc = SERVICES[service]
        fields = template_fields(agency, 8080)
        # The URL other members use names this very service, on the port it serves.
        url = httpx.URL(url_template.format(**fields))
        assert (url.host, url.port) == (service, parse_pel(svc["command"])[1]["port"])
        database = httpx.URL(db_template.format(**fields).replace("+psycopg", ""))
        assert database.host in SERVICES and database.host == "db"
        assert database.username == db["environment"]["POSTGRES_USER"]
        assert f"CREATE DATABASE {database.path.lstrip('/')} " in init_sql
        [mapping] = svc["ports"]
        bind, host_port, container = mapping.split(":")
        assert (bind, container) == ("127.0.0.1", "8080")
        host_ports.append(int(host_port))
        assert svc["depends_on"]["setup"]["condition"] == "service_completed_successfully"
        assert "demo:/demo" in svc["volumes"]
        probe = svc["healthcheck"]["test"]
        assert probe[:3] == ["CMD", "python", "-c"]
        compile(probe[3], "healthcheck", "exec")
        assert "127.0.0.1:8080/healthz" in probe[3]
        assert SERVICES["loader"]["depends_on"][service]["condition"] == "service_healthy"
    assert len(set(host_ports)) == len(host_ports)
    assert SERVICES["setup"]["depends_on"]["db"]["condition"] == "service_healthy"
    for volume in ("demo", "pgdata"):
        assert volume in COMPOSE["volumes"]


@contextlib.contextmanager
def schemas(dbs: dict[str, str]) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL schema for each agency's database name, dropped afterwards."""
    prefix = "c_" + uuid.uuid4().hex[:8] + "_"
    plain = PG_URL.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        for name in dbs.values():
            conn.execute(f'CREATE SCHEMA "{prefix}{name}"')
    try:
        yield {agency: prefix + name for agency, name in dbs.items()}
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            for name in dbs.values():
                conn.execute(f'DROP SCHEMA "{prefix}{name}" CASCADE')


@pytest.mark.slow
@pytest.mark.postgres
def test_the_composed_nodes_start_on_postgresql(tmp_path: Path, pg_available: bool) -> None:
    setup = list(SERVICES["setup"]["command"])
    volume = option(setup, "--dir")
    dbs = {a: template_fields(a, 8080)["db"] for a in DEMO_ORDER}
    with schemas(dbs) as mapped:
        # The set-up exactly as composed, but the volume is a directory here and each
        # database a schema of the test server.
        setup[setup.index("--dir") + 1] = str(tmp_path)
        prefix = mapped["TH-SSO"].removesuffix(dbs["TH-SSO"])
        template = PG_URL + "?options=-csearch_path%3D" + prefix + "{db}"
        setup[setup.index("--database-template") + 1] = template
        code, out, err = run(*setup)
        assert code == 0, err
        assert "created" in out and "10 member agencies" in out
        started = []
        try:
            for service in list(NODE_SERVICES)[:3]:
                args = list(SERVICES[service]["command"])
                args[1] = args[1].replace(volume, str(tmp_path), 1)
                args[args.index("--host") + 1] = "127.0.0.1"
                port = free_port()
                args[args.index("--port") + 1] = str(port)
                proc = subprocess.Popen(
                    [sys.executable, "-m", "pel.node.cli", *args],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                started.append((service, port, proc))
            for service, port, proc in started:
                agency = NODE_SERVICES[service]
                settings = json.loads((tmp_path / agency / "node.json").read_text())
                assert settings["database_url"].startswith("postgresql+psycopg://")
                assert settings["database_url"].endswith("%3D" + mapped[agency])
                info = wait_for_node(f"http://127.0.0.1:{port}", proc)
                assert info["agency"] == agency and info["tree_size"] == 0
                code, out, err = run("federation", "show", str(tmp_path / agency))
                assert code == 0, err
                assert f"witness quorum {default_quorum(len(DEMO_ORDER))};" in out
                code, out, err = run(
                    "federation", "show", str(tmp_path / agency), "--policy", ORIGINS[agency]
                )
                assert code == 0, err
                assert f"log {info['log_vkey']} http://{service}:8080\n" in out
            plain = PG_URL.replace("+psycopg", "")
            with psycopg.connect(plain) as conn:
                tables = conn.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                    (mapped["TH-SSO"],),
                ).fetchone()
            assert tables is not None and tables[0] > 0  # the node's tables are in its schema
        finally:
            for _, _, proc in started:
                proc.terminate()
            for _, _, proc in started:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def wait_for_node(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode())  # type: ignore[union-attr]
        try:
            r = httpx.get(url + "/v1/node", timeout=2)
            if r.status_code == 200:
                return r.json()  # type: ignore[no-any-return]
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer"
        time.sleep(0.1)
