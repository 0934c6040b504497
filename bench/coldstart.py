"""Cold start: proof latency right after a start, with and without reading the tiles ahead.

Opens the 10 M-entry log of :mod:`bench.growth` in a fresh process and times random
inclusion proofs in that process (no HTTP, so the storage tier shows): first with the
operating system's file cache emptied, then emptied again and after the pass that a
started node runs in the background (:mod:`node.prewarm`), which is timed too.
Emptying the file cache needs root (``/proc/sys/vm/drop_caches``); without it, both
passes run on whatever the cache holds, which the output says.

    python -m bench.coldstart [--size N] [--proofs P]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, header, row
from bench.proofs import bench_dir
from pel.node.agency_node import Node


def drop_file_cache() -> bool:
    """Write back and drop the operating system's file cache; False if not allowed."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=10_000_000)
    p.add_argument("--proofs", type=int, default=3000)
    p.add_argument("--measure", choices=["cold", "prewarmed"], help=argparse.SUPPRESS)
    args = p.parse_args()
    directory = bench_dir(args.size)
    if args.measure:
        _measure(directory, args.measure, args.proofs)
        return
    header(f"cold start at {args.size:,} entries")
    for mode in ("cold", "prewarmed"):
        if not drop_file_cache():
            print("  (the file cache cannot be emptied without root: it holds what it holds)")
        cmd = [sys.executable, "-m", "bench.coldstart", "--size", str(args.size)]
        cmd += ["--proofs", str(args.proofs), "--measure", mode]
        subprocess.run(cmd, cwd=ROOT, check=True)


def _measure(directory: Path, mode: str, proofs: int) -> None:
    node = Node.open(directory)
    try:
        size = node.log.tree_size()
        if mode == "prewarmed":
            began = time.perf_counter()
            read = 0
            for done in node.log.warm_tiles():
                read = done
            took = time.perf_counter() - began
            row("tiles read ahead (the background pass of a started node)", read / 1e6, "MB")
            row("  in", took, "s")
        rng = random.Random(7)
        latencies = []
        for _ in range(proofs):
            index = rng.randrange(size)
            t0 = time.perf_counter()
            node.log.inclusion_proof(index, size)
            latencies.append(time.perf_counter() - t0)
        latencies.sort()
        print(f"  {mode}: {proofs:,} random proofs in this process, tree size {size:,}")
        for q in (50, 90, 99):
            value = latencies[min(len(latencies) - 1, len(latencies) * q // 100)] * 1e6
            row(f"  {mode}: proof latency p{q}", value, "µs")
    finally:
        node.stop()


if __name__ == "__main__":
    main()
