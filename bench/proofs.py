"""Proofs: inclusion proofs/s over HTTP with p50/p99 latency, and tile requests/s.

Builds (once, then reuses) a log of ``--size`` entries (default 1 000 000) under
``var/bench/`` through :mod:`bench.bulk`, serves it with ``pel serve``, and loads
it from this process with :mod:`bench.loadgen`.

    python -m bench.proofs [--size N] [--seconds S] [--connections C]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from bench.bulk import bulk_fill
from bench.common import ROOT, header, init_node, row, served
from bench.loadgen import LoadResult, run_load
from pel.ledger.merkle.tiles import TILE_WIDTH, entries_path, tile_path


def bench_dir(size: int) -> Path:
    """A node directory holding a log of ``size`` entries, built on first use."""
    d = ROOT / "var" / "bench" / f"log-{size}"
    if not (d / "node.json").exists():
        d.parent.mkdir(parents=True, exist_ok=True)
        init_node(d)
    bulk_fill(d, size)
    return d


def show(label: str, result: LoadResult, limit: float | None = None, limit_name: str = "") -> None:
    row(label, result.rate, "req/s", limit, limit_name)
    row("  latency p50", result.percentile(50) * 1000, "ms")
    row("  latency p99", result.percentile(99) * 1000, "ms")
    if result.errors:
        print(f"  !! {result.errors} answers were not 200")


def proofs_at(url: str, size: int, seconds: float, connections: int) -> LoadResult:
    return run_load(
        url,
        lambda rng: f"/v1/proof/inclusion?index={rng.randrange(size)}&tree_size={size}",
        seconds=seconds,
        connections=connections,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--connections", type=int, default=8)
    args = p.parse_args()
    header(f"proofs at {args.size:,} entries")
    directory = bench_dir(args.size)
    full_tiles = args.size // TILE_WIDTH

    def tile(rng: random.Random) -> str:
        return "/" + tile_path(0, rng.randrange(full_tiles))

    def bundle(rng: random.Random) -> str:
        return "/" + entries_path(rng.randrange(full_tiles))

    with served(directory) as url:
        # Warm up (not measured): a serving node has its full tiles cached after a while.
        proofs_at(url, args.size, 3, args.connections)
        # The HTTP floor: answers per second for a path the server does not have (routing
        # and an error body, no storage), the limit every figure here is bound by.
        floor = run_load(
            url, lambda rng: "/no-such-path", seconds=args.seconds / 2, connections=args.connections
        ).rate
        row("HTTP floor (404 answers, same server)", floor, "req/s")
        show(
            f"inclusion proofs over HTTP ({args.connections} connections)",
            proofs_at(url, args.size, args.seconds, args.connections),
            floor,
            "HTTP floor",
        )
        show(
            "level-0 tiles over HTTP",
            run_load(url, tile, seconds=args.seconds / 2, connections=args.connections),
            floor,
            "HTTP floor",
        )
        show(
            "entry bundles over HTTP",
            run_load(url, bundle, seconds=args.seconds / 2, connections=args.connections),
            floor,
            "HTTP floor",
        )


if __name__ == "__main__":
    main()
