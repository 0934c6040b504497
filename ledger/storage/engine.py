"""Database engines: SQLite (WAL) by default, PostgreSQL when the URL says so."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Session, SQLModel

from pel.ledger.errors import DamagedLogError, LedgerError
from pel.ledger.storage.models import LogStateRow

log = logging.getLogger("pel.storage")


class StorageError(LedgerError):
    """The database cannot be reached or is not a pel log."""

    code = "storage_error"
    http_status = 503


def normalise_url(url: str) -> str:
    """Pick pel's drivers: psycopg 3 for PostgreSQL, the stdlib for SQLite."""
    try:
        u = make_url(url)
    except ArgumentError:
        # The URL itself is not repeated: it may hold a password.
        raise StorageError(
            "the database URL cannot be parsed: use sqlite:///PATH or postgresql://…",
            code="bad_database_url",
        ) from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() not in ("sqlite", "postgresql"):
        raise StorageError(
            f"unsupported database {u.get_backend_name()!r}: use sqlite or postgresql"
        )
    return u.render_as_string(hide_password=False)


WAL_AUTOCOPY_PAGES = 16384
"""Pages (4 KiB) in SQLite's write-ahead log at which a commit copies them back itself."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: an acknowledged (committed) record survives power loss, not just a crash.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    # Index pages of a big log (the record-id and pwid indexes are written at random
    # places) must stay in memory: 2 MiB, SQLite's default, makes appends seek at scale.
    cur.execute("PRAGMA cache_size=-262144")  # 256 MiB
    cur.execute("PRAGMA temp_store=MEMORY")
    # Copying the write-ahead log back into the database file (what SQLite calls a WAL
    # checkpoint) happens inside the commit that crosses this many pages. A serving
    # node does it in the background (``write_back_wal``) well before, so that a big
    # log's commits, which are what clients wait for, never carry it; 64 MiB remains
    # the bound for every other process.
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCOPY_PAGES}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _postgres_settings(dbapi_conn: Any, _record: Any) -> None:
    # A plan for each execution with its own values: psycopg prepares a statement run
    # five times, and PostgreSQL may then keep a generic plan made while the table was
    # small (a scan), which makes the record-id look-ups of a growing log take seconds.
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True
    with dbapi_conn.cursor() as cur:
        cur.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_conn.autocommit = autocommit


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with pel's settings (WAL and durable commits on SQLite)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # Python's sqlite3 binds int, float, str and bytearray as they are, but puts bytes
        # through its adaptation protocol, whose failed look-ups (no adapter, no
        # ``__adapt__``, no ``__conform__``) each format an AttributeError: about a tenth
        # of appending an entry and of storing an index node. An adapter that gives the
        # bytes back unchanged makes that one dictionary look-up.
        sqlite3.register_adapter(bytes, bytes)
        # LIFO: the connection used last is used next, so the writes (one at a time)
        # keep landing on a connection whose page cache (256 MiB) is still valid. SQLite
        # drops a connection's cache whenever another connection has written since.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_use_lifo=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        event.listen(engine, "connect", _postgres_settings)
    return engine


def write_back_wal(engine: Engine) -> tuple[int, int] | None:
    """Copy SQLite's write-ahead log back into the database file as far as no reader
    still needs it, without blocking writers (a passive WAL checkpoint; nothing to do
    with a log's signed checkpoints). Returns (pages in the WAL, pages copied), or None
    on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as conn:
        _busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return int(frames), int(copied)


def check_reachable(url: str) -> None:
    """Connect once to ``url``; a ``StorageError`` with the driver's first line if it fails."""
    engine = make_engine(url)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageError(f"cannot open the database: {reason}") from None
    finally:
        engine.dispose()


def create_schema(engine: Engine) -> list[str]:
    """Create the tables (idempotent) and the log's state row, and the indexes a table
    lacks (dropped, or never made): rebuilt from the table, they lose nothing.

    Returns:
        The names of the indexes created again.
    """
    SQLModel.metadata.create_all(engine)
    _add_token_columns(engine)
    rebuilt = repair_indexes(engine)
    with Session(engine) as session:
        if session.exec(select(LogStateRow.id)).first() is None:  # type: ignore[call-overload]
            session.execute(insert(LogStateRow).values(id=1, next_index=0, tree_size=0))
            session.commit()
    return rebuilt


def repair_indexes(engine: Engine) -> list[str]:
    """Create every index of pel's tables that the database lacks; their names.

    Raises:
        DamagedLogError: ``index_damaged`` when an index cannot be made again (a unique
            index over rows that are no longer unique).
    """
    inspector = inspect(engine)
    rebuilt = []
    for table in SQLModel.metadata.sorted_tables:
        have = {ix["name"] for ix in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name in have:
                continue
            try:
                index.create(engine)
            except SQLAlchemyError as exc:
                reason = _first_line(exc)
                raise DamagedLogError(
                    f"the index {index.name} was missing and cannot be made again: {reason}",
                    code="index_damaged",
                ) from None
            log.warning("the index %s was missing: made again from its table", index.name)
            rebuilt.append(str(index.name))
    return rebuilt


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


_PG_INDEXES = """
SELECT c.relname FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_am a ON a.oid = c.relam
WHERE t.relname = ANY(%s) AND a.amname = 'btree' AND pg_table_is_visible(t.oid)
ORDER BY c.relname
"""


def check_database(engine: Engine, tables: list[str]) -> str:
    """The database's own check of its pages and indexes: SQLite's ``PRAGMA
    integrity_check``; on PostgreSQL, amcheck's ``bt_index_check`` on every index of
    ``tables`` where the extension is installed (else nothing, and the line says so).

    Returns:
        One line saying what was checked.

    Raises:
        DamagedLogError: ``index_damaged`` (naming the indexes) or ``database_damaged``.
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            lines = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check").all()]
        if lines == ["ok"]:
            return "SQLite integrity_check: ok"
        words = {w for line in lines for w in line.split()}
        damaged = sorted(w for w in words if w.startswith(("ix_", "sqlite_autoindex")))
        if damaged:
            raise DamagedLogError(
                f"damaged database index {', '.join(damaged)} ({lines[0]}; "
                f"{len(lines)} problem(s)); REINDEX repairs it once the cause is known",
                code="index_damaged",
            )
        raise DamagedLogError(
            f"the database file is damaged: {lines[0]} ({len(lines)} problem(s))",
            code="database_damaged",
        )
    with engine.connect() as conn:
        schema = conn.exec_driver_sql(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
            "ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'"
        ).scalar()
        if schema is None:
            return "PostgreSQL indexes not checked: the amcheck extension is not installed"
        check = f'"{schema}".bt_index_check'
        names = [str(r[0]) for r in conn.exec_driver_sql(_PG_INDEXES, (tables,)).all()]
        for name in names:
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(f"SELECT {check}(%s::regclass)", (name,))
            except SQLAlchemyError as exc:
                raise DamagedLogError(
                    f"damaged database index {name}: {_first_line(exc)}", code="index_damaged"
                ) from None
    return f"PostgreSQL amcheck bt_index_check: {len(names)} indexes ok"


def _add_token_columns(engine: Engine) -> None:
    """Give a ``tokens`` table made before roles existed its ``role`` and ``revoked_at``
    columns (its tokens were the agency's own write tokens: admin), and one made before
    rows were bound its ``mac`` column (filled in by the node, which holds the key)."""
    from sqlalchemy import inspect

    names = {c["name"] for c in inspect(engine).get_columns("tokens")}
    with engine.begin() as conn:
        if "role" not in names:
            conn.exec_driver_sql(
                "ALTER TABLE tokens ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'admin'"
            )
        if "revoked_at" not in names:
            kind = "TIMESTAMP WITH TIME ZONE" if engine.dialect.name == "postgresql" else "DATETIME"
            conn.exec_driver_sql(f"ALTER TABLE tokens ADD COLUMN revoked_at {kind}")
        if "mac" not in names:
            conn.exec_driver_sql("ALTER TABLE tokens ADD COLUMN mac VARCHAR(64)")
