"""The verifiable index: what keeping it costs the log, and how lookups grow.

1. Ingest over HTTP with the index on and off (``PEL_INDEX``): ``pel serve`` in its
   own process, batches of 1 000 drafts from a few clients until a checkpoint covers
   them all (:mod:`bench.ingest`), on SQLite; alternated, best of three each way.
2. The log alone, index on and off: the same signed records appended and integrated
   (batches of 1 000, a checkpoint per batch, as the sequencer does), on SQLite and,
   when reachable, PostgreSQL — the index's whole cost with nothing around it. Its
   update is timed apart and its stored bytes per record counted. Records are worker
   histories (:func:`node.demo.synth.synth_drafts`), several per worker.
3. Lookups: for logs of growing size, the time of one ``index_proof`` (the list and its
   proof read from storage) and the proof's size, next to log2 of the number of workers.

    python -m bench.index [--records N] [--http-records N] [--backend sqlite|postgresql|both]
                          [--sizes a,b,c]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import time
from pathlib import Path

from sqlalchemy import text

from bench.common import (
    fresh_pg_schema,
    header,
    init_node,
    pg_available,
    row,
    served,
    workdir,
)
from bench.ingest import _bodies
from bench.ingest import ingest as ingest_http
from pel.ledger.records.entries import PreparedRecord
from pel.ledger.storage.engine import create_schema, make_engine
from pel.ledger.tlog.log import Log
from pel.node.agency_node import Node
from pel.node.demo.synth import synth_drafts

BATCH = 1000
NOW = "2026-11-22T00:00:00Z"


def prepared(node: Node, count: int, seed: int = 1) -> list[PreparedRecord]:
    return [node.prepare(d, now=NOW) for d in synth_drafts(node.agency, count, seed=seed)]


class Timed:
    """Wraps a log's index update to add up the time spent in it."""

    def __init__(self, log: Log) -> None:
        self.seconds = 0.0
        inner = log._update_index

        def timed(conn: object, old: int, new: int) -> object:
            start = time.perf_counter()
            try:
                return inner(conn, old, new)  # type: ignore[arg-type]
            finally:
                self.seconds += time.perf_counter() - start

        log._update_index = timed  # type: ignore[method-assign,assignment]


def ingest(node: Node, url: str, records: list[PreparedRecord], *, index: bool) -> dict:
    engine = make_engine(url)
    create_schema(engine)
    log = Log(engine, node.log_verifier, signer=node.log_signer, index=index)
    timer = Timed(log)
    start = time.perf_counter()
    for i in range(0, len(records), BATCH):
        log.append(records[i : i + BATCH])
        log.integrate()
    took = time.perf_counter() - start
    stored = 0
    if index:
        with engine.connect() as conn:
            stored = int(
                conn.execute(
                    text(
                        "SELECT coalesce(sum(length(path) + length(hash) + 8 + "
                        "coalesce(length(key), 0) + coalesce(length(value), 0)), 0), count(*) "
                        "FROM index_nodes"
                    )
                ).one()[0]
            )
    log.close()
    engine.dispose()
    return {"seconds": took, "index_seconds": timer.seconds, "bytes": stored}


def compare(node: Node, urls: list[str], records: list[PreparedRecord], label: str) -> None:
    """Ingest twice each way, alternating (this machine's speed drifts), best of two."""
    runs: dict[bool, list[dict]] = {True: [], False: []}
    for n, url in enumerate(urls):
        runs[n % 2 == 0].append(ingest(node, url, records, index=n % 2 == 0))
    n = len(records)
    on = min(runs[True], key=lambda r: r["seconds"])
    off = min(runs[False], key=lambda r: r["seconds"])
    print(f"-- {label}: {n:,} records, batches of {BATCH}")
    row("ingest, index off", n / off["seconds"], "records/s")
    row("ingest, index on", n / on["seconds"], "records/s")
    row("  index on / off (time)", on["seconds"] / off["seconds"], "x")
    row("  index update per record", on["index_seconds"] / n * 1e6, "µs")
    row("  index nodes stored per record", on["bytes"] / n, "bytes")


def over_http(directory: Path, records: int, clients: int = 3) -> None:
    """End-to-end ingest with ``PEL_INDEX`` on and off, alternated, best of three each."""
    bodies = _bodies(records, seed=7, ids="filing")
    best: dict[bool, float] = {}
    for n, on in enumerate((True, False) * 3):
        d = directory / f"http-{n}"
        info = init_node(d)
        os.environ["PEL_INDEX"] = "true" if on else "false"
        try:
            with served(d) as url:
                took = ingest_http(url, info["token"], bodies, records, clients)
        finally:
            del os.environ["PEL_INDEX"]
        best[on] = min(best.get(on, took), took)
    print(f"-- over HTTP, SQLite: {records:,} records, {clients} clients, batches of 1000")
    row("ingest, index off", records / best[False], "records/s")
    row("ingest, index on", records / best[True], "records/s")
    row("  index on / off (time)", best[True] / best[False], "x")


def lookups(node: Node, directory: Path, sizes: list[int]) -> None:
    print("-- lookups: one index_proof (list + proof from storage), SQLite")
    for size in sizes:
        records = prepared(node, size, seed=size)
        engine = make_engine(f"sqlite:///{directory / f'lookup-{size}.db'}")
        create_schema(engine)
        log = Log(engine, node.log_verifier, signer=node.log_signer)
        for i in range(0, size, BATCH):
            log.append(records[i : i + BATCH])
            log.integrate()
        pwids = sorted({r.pwid for r in records})
        rng = random.Random(size)
        asked = [rng.choice(pwids) for _ in range(200)] + [f"ZZ-{i:016d}" for i in range(50)]
        times, sibs, sizes_b = [], [], []
        for pwid in asked:
            start = time.perf_counter()
            proof = log.index_proof(pwid, size)
            times.append(time.perf_counter() - start)
            sibs.append(len(proof.siblings))
            sizes_b.append(len(json.dumps(proof.to_json(), separators=(",", ":"))))
        print(
            f"  log of {size:>9,} entries, {len(pwids):>8,} workers (log2 = "
            f"{math.log2(len(pwids)):5.1f}): lookup p50 {statistics.median(times) * 1e3:6.2f} ms, "
            f"siblings mean {statistics.mean(sibs):5.1f} max {max(sibs):3d}, "
            f"proof {statistics.mean(sizes_b):6.0f} bytes"
        )
        log.close()
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--http-records", type=int, default=50_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--sizes", default="1000,10000,100000")
    args = ap.parse_args()
    header("verifiable index: ingest cost, lookup and proof size")
    with workdir("pel-bench-index-") as d:
        init_node(d / "node")
        node = Node.open(d / "node")
        try:
            if args.http_records:
                over_http(d, args.http_records)
            records = prepared(node, args.records)
            if args.backend in ("sqlite", "both"):
                urls = [f"sqlite:///{d / f'ingest-{n}.db'}" for n in range(4)]
                compare(node, urls, records, "SQLite")
            if args.backend in ("postgresql", "both"):
                if pg_available():
                    urls = [fresh_pg_schema(f"bench_index_{n}") for n in range(4)]
                    compare(node, urls, records, "PostgreSQL")
                else:
                    print("-- PostgreSQL: not reachable, skipped")
            lookups(node, d, [int(s) for s in args.sizes.split(",")])
        finally:
            node.stop()


if __name__ == "__main__":
    main()
