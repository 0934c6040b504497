"""Growth: append rate and proof latency at 0, 1 M and 10 M entries.

For each size the log is built once under ``var/bench/`` through :mod:`bench.bulk`
(the real storage code), then served; the append rate is measured end to end
over HTTP (as in :mod:`bench.ingest`) and the proof latency with one connection
asking one proof at a time, after a warm-up of 3 seconds as in :mod:`bench.proofs`
(right after an append of 100 000 records the node is still copying its write-ahead
log back, and the first seconds' latency says more about that than about the log's
size). The log keeps the appended records, so later runs start from a slightly
larger size. The appended records' ids are minted in filing order unless
``--ids history`` (see :mod:`bench.ingest`); :mod:`bench.bulk` numbers the ids of
the records it builds the logs from in order.

    python -m bench.growth [--sizes 0,1000000,10000000] [--records N] [--ids filing|history]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bench.common import header, init_node, row, served, workdir
from bench.ingest import IDS, _bodies, ingest
from bench.proofs import bench_dir, proofs_at


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="0,1000000,10000000")
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--ids", choices=IDS, default="filing", help="when the record ids were minted")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    limits = header("growth")
    results = []
    for size in sizes:
        with workdir("pel-bench-growth-") as tmp:
            if size == 0:
                directory = tmp / "node"
                init_node(directory)
            else:
                directory = bench_dir(size)
            token = _token_for(directory)
            with served(directory) as url:
                start = _size(url)
                # Seeded by the size the log has now: new records on every run (the
                # same ones again would be acknowledged as duplicates, not appended).
                bodies = _bodies(args.records, seed=start, ids=args.ids)
                took = ingest(url, token, bodies, start + args.records, clients=1)
                rate = args.records / took
                at = start + args.records
                proofs_at(url, at, seconds=3, connections=1)  # warm-up, not measured
                lat = proofs_at(url, at, seconds=5, connections=1)
        results.append((size, at, rate, lat.percentile(50)))
        row(
            f"append over HTTP at {size:,} entries",
            rate,
            "records/s",
            limits.sign,
            "one core's Ed25519 sign rate",
        )
        row(f"  proof latency p50 at {at:,}", lat.percentile(50) * 1000, "ms")
        row(f"  proof latency p99 at {at:,}", lat.percentile(99) * 1000, "ms")
    size0, at0, rate0, p500 = results[0]
    for size, at, rate, p50 in results[1:]:
        print(
            f"  from {size0:,} to {size:,}: append rate x {rate / rate0:.2f}; proof p50 "
            f"x {p50 / p500:.2f} while log2 n grew x {math.log2(at) / math.log2(at0):.2f}"
        )


def _size(url: str) -> int:
    import httpx

    r = httpx.get(url + "/checkpoint")
    return int(r.text.split("\n")[1]) if r.status_code == 200 else 0


def _token_for(directory: Path) -> str:
    """A fresh write token for a bench node (only its hash is stored)."""
    from pel.node.access.tokens import create_token
    from pel.node.agency_node import Node

    node = Node.open(directory)
    try:
        return create_token(node.tokens, node.agency, label="bench")
    finally:
        node.stop()


if __name__ == "__main__":
    main()
