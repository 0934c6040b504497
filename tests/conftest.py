"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable), nodes, servers.

PostgreSQL tests use 127.0.0.1:5432 (trust auth, database ``test``), each in a schema
of its own. Unreachable, they skip with a message on a laptop and fail under CI.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from pel.node.agency_node import Node, init_node

PG_URL = os.environ.get("PEL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: no usable server
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@pytest.fixture(scope="session")
def pg_available() -> bool:
    problem = _pg_reachable()
    if problem is None:
        return True
    if IN_CI:
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable in CI: {problem}")
    pytest.skip(f"PostgreSQL tests skipped: no server at {PG_URL} ({problem})")
    return False


@contextlib.contextmanager
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    plain = PG_URL.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite in tmp_path, or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    request.getfixturevalue("pg_available")
    with pg_schema_url() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log.db'}"


AGENCY = "MY-PERKESO"
ORIGIN = "perkeso.gov.my/pel"


@pytest.fixture
def node_and_token(tmp_path: Path, db_url: str) -> Iterator[tuple[Node, str]]:
    node, token = init_node(tmp_path / "node", agency=AGENCY, origin=ORIGIN, database_url=db_url)
    yield node, token
    node.stop()


@pytest.fixture
def sqlite_node(tmp_path: Path) -> Iterator[tuple[Node, str]]:
    node, token = init_node(tmp_path / "node", agency=AGENCY, origin=ORIGIN)
    yield node, token
    node.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(app: object, *, timeout: float = 20.0, port: int | None = None) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a (free) loopback port; stop it on exit."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
