"""Disk: bytes per contribution record, every table and index included.

Fills a fresh node with contribution records through :mod:`bench.bulk` and
divides the database's size (SQLite: its files after a WAL checkpoint, the tile-node
file included; PostgreSQL: ``pg_total_relation_size`` of every table, so indexes and
TOAST count) by the number of records.

    python -m bench.disk [--records N]
"""

from __future__ import annotations

import argparse

from sqlalchemy import text

from bench.bulk import bulk_fill
from bench.common import fresh_pg_schema, header, init_node, pg_available, row, workdir
from pel.node.agency_node import Node


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=200_000)
    args = p.parse_args()
    header("disk")
    n = args.records
    with workdir("pel-bench-disk-") as d:
        init_node(d / "sqlite")
        bulk_fill(d / "sqlite", n, quiet=True)
        node = Node.open(d / "sqlite")
        with node.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        node.stop()
        files = {f.name: f.stat().st_size for f in (d / "sqlite").glob("pel.db*")}
        size = sum(files.values())
        row(f"SQLite, {n:,} contribution records", size / n, "bytes/record")
        for name, part in sorted(files.items()):
            row(f"  of which {name}", part / n, "bytes/record")
        if pg_available():
            init_node(d / "pg", database=fresh_pg_schema("bench_disk"))
            bulk_fill(d / "pg", n, quiet=True)
            node = Node.open(d / "pg")
            with node.engine.connect() as conn:
                total = conn.execute(
                    text(
                        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                        "JOIN pg_namespace s ON s.oid = c.relnamespace "
                        "WHERE s.nspname = 'bench_disk' AND c.relkind = 'r'"
                    )
                ).scalar_one()
            node.stop()
            row(f"PostgreSQL, {n:,} contribution records", int(total) / n, "bytes/record")
        else:
            print("  PostgreSQL: not reachable, skipped")


if __name__ == "__main__":
    main()
