"""Engine settings per database: what every connection of the pool is set to."""

from __future__ import annotations

from sqlalchemy import text

from ledger.storage.engine import create_schema, make_engine


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
    finally:
        engine.dispose()
