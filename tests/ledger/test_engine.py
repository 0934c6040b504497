"""Engine settings per database: what every connection of the pool is set to."""

from __future__ import annotations

from sqlalchemy import text

from pel.ledger.storage.engine import (
    WAL_AUTOCOPY_PAGES,
    check_database,
    create_schema,
    make_engine,
    write_back_wal,
)


def test_every_connection_has_pels_settings(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        with engine.connect() as a, engine.connect() as b:  # two connections of the pool
            for conn in (a, b):
                if engine.dialect.name == "postgresql":
                    # Record-id look-ups planned with their values every time, never with
                    # a generic plan cached while the table was small.
                    assert conn.execute(text("SHOW plan_cache_mode")).scalar() == (
                        "force_custom_plan"
                    )
                    # The URL's own options (the tests' search_path) still apply.
                    assert conn.execute(text("SELECT count(*) FROM log_state")).scalar() == 1
                else:
                    assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                    assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
                    assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == (
                        WAL_AUTOCOPY_PAGES
                    )
    finally:
        engine.dispose()


def test_the_write_ahead_log_is_copied_back_on_demand(db_url: str) -> None:
    """Commits below the threshold leave their pages in SQLite's write-ahead log, and
    ``write_back_wal`` copies them all into the database file while nobody reads."""
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        if engine.dialect.name == "postgresql":
            assert write_back_wal(engine) is None
            return
        for _ in range(20):
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS filler (x BLOB)"))
                conn.execute(text("INSERT INTO filler VALUES (randomblob(8192))"))
        frames, copied = write_back_wal(engine) or (0, 0)
        assert frames > 40  # 20 commits of three pages or more, none copied back yet
        assert copied == frames
    finally:
        engine.dispose()


def test_the_databases_own_check_and_a_missing_index_made_again(db_url: str) -> None:
    """SQLite's integrity_check, or amcheck on PostgreSQL where it is installed (the
    line says when it is not); an index dropped is made again when the schema is."""
    engine = make_engine(db_url)
    try:
        assert create_schema(engine) == []
        tables = ["entries", "tiles", "tile_nodes", "checkpoints"]
        if engine.dialect.name == "sqlite":
            assert check_database(engine, tables) == "SQLite integrity_check: ok"
        else:
            with engine.begin() as conn:
                schema = conn.execute(text("SELECT current_schema()")).scalar()
                installed = conn.execute(
                    text("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'")
                ).first()
            if installed is None:
                line = check_database(engine, tables)
                assert line.endswith("the amcheck extension is not installed")
                with engine.begin() as conn:  # dropped with the test's schema
                    conn.execute(text(f'CREATE EXTENSION amcheck SCHEMA "{schema}"'))
            line = check_database(engine, tables)
            assert line.startswith("PostgreSQL amcheck bt_index_check:"), line
            assert "indexes ok" in line and not line.endswith(" 0 indexes ok")
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_entries_pwid"))
        assert create_schema(engine) == ["ix_entries_pwid"]
        assert create_schema(engine) == []
    finally:
        engine.dispose()
