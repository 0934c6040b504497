"""Where the time of a cold inclusion proof goes: the profile behind the cold ratio.

Over a log of 100 000 entries built as in ``bench.versus_pymerkle``, with the same
1 000 random proofs, each pass in a fresh process that has only opened the log and
read its latest checkpoint:

- cold: the pass as ``bench.versus_pymerkle`` times it, with the minor page faults it
  takes (a full level-0 tile is read for each leaf whose tile is not yet cached, and its
  16 KiB of nodes are kept for the next proofs);
- cold, reads timed: the same pass with the time spent in the tile source's reads
  summed (a wrapper around the read, a fraction of a microsecond a call);
- cold, heap touched: the same pass after the process has allocated and freed as much
  memory as the kept tiles need, with glibc told to keep what is freed
  (``MALLOC_TRIM_THRESHOLD_``). The tiles then land in memory the process has already
  touched, so what remains is the reads and the proof work. This is a measurement aid,
  not a setting pel uses;
- warm: the same proofs again in the cold pass's process (the proof work alone);
- pymerkle's cold pass over the same entries (its ``SqliteTree``, each in a fresh
  process too), for the ratio the target is about.

It also measures what this machine charges for memory touched for the first time: a
fresh anonymous mapping of the kept tiles' size, populated in one call
(``MADV_POPULATE_WRITE``, no fault per page) and page by page. From these parts it
prints the floor of this design: the reads, plus the first touch of the memory that
keeps the tiles (as the pass pays it: the best cold pass less the best with the heap
touched), plus the proof work, and that floor's ratio to pymerkle; what the cold pass
takes above it is the cold path's own work around the read.

    python -m bench.coldproofs [--entries N] [--proofs P] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, header, init_node, row, workdir
from bench.versus_pymerkle import BATCH, entries_for, proof_indexes, proofs_elsewhere
from ledger.merkle.tiles import TILE_WIDTH
from node.node import Node

_PAGE = mmap.PAGESIZE
_KEPT_PER_TILE = 16 * 1024  # a full tile's 256 hashes and its 255 inner nodes
_MADV_POPULATE_WRITE = 23  # Linux 5.14; the mmap module names it only from Python 3.13


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _first_touch(size: int) -> tuple[float | None, float]:
    """Seconds to populate a fresh mapping of ``size`` bytes in one call (None where the
    kernel cannot), and to touch a fresh one page by page."""
    populate: float | None
    area = mmap.mmap(-1, size)
    t0 = time.perf_counter()
    try:
        area.madvise(_MADV_POPULATE_WRITE, 0, size)
        populate = time.perf_counter() - t0
    except OSError:
        populate = None
    area.close()
    area = mmap.mmap(-1, size)
    t0 = time.perf_counter()
    for offset in range(0, size, _PAGE):
        area[offset] = 1
    touch = time.perf_counter() - t0
    area.close()
    return populate, touch


_KINDS = ("cold", "timed", "touched")


def _pass(path: Path, n: int, proofs: int, kind: str) -> None:
    """Print ``[cold s, cold faults, warm s, read s, reads]`` for one pass over the log."""
    indexes = proof_indexes(n, proofs)
    node = Node.open(path)
    node.log.latest()
    spent = [0.0, 0]
    if kind == "timed":
        # The reader's own hook into its source (private): wrapping the source itself would
        # not be seen, the reader keeps the bound method it was built with.
        hashes: Any = node.log.hashes
        read = hashes._read_nodes

        def timed_read(coords: Any) -> Any:
            t = time.perf_counter()
            try:
                return read(coords)
            finally:
                spent[0] += time.perf_counter() - t
                spent[1] += 1

        hashes._read_nodes = timed_read
    if kind == "touched":
        tiles = len({i // TILE_WIDTH for i in indexes})
        scratch = [bytes(_KEPT_PER_TILE) for _ in range(2 * tiles)]
        del scratch
    f0, t0 = _faults(), time.perf_counter()
    for i in indexes:
        node.log.inclusion_proof(i, n)
    cold, faults = time.perf_counter() - t0, _faults() - f0
    t0 = time.perf_counter()
    for i in indexes:
        node.log.inclusion_proof(i, n)
    warm = time.perf_counter() - t0
    node.stop()
    print(json.dumps([cold, faults, warm, spent[0], spent[1]]))


def _pass_elsewhere(path: Path, n: int, proofs: int, kind: str) -> list[float]:
    cmd = [sys.executable, "-m", "bench.coldproofs", "--measure", str(path)]
    cmd += ["--entries", str(n), "--proofs", str(proofs), "--kind", kind]
    env = dict(os.environ)
    if kind == "touched":
        env["MALLOC_TRIM_THRESHOLD_"] = str(1 << 30)
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return [float(x) for x in json.loads(out.stdout.splitlines()[-1])]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument("--proofs", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3, help="fresh processes per kind of pass")
    p.add_argument("--measure", metavar="PATH", help=argparse.SUPPRESS)
    p.add_argument("--kind", choices=_KINDS, default="cold", help=argparse.SUPPRESS)
    args = p.parse_args()
    n = args.entries
    if args.measure:
        _pass(Path(args.measure), n, args.proofs, args.kind)
        return
    header("where a cold inclusion proof's time goes")
    from pymerkle import SqliteTree

    indexes = proof_indexes(n, args.proofs)
    full = {i // TILE_WIDTH for i in indexes if (i // TILE_WIDTH + 1) * TILE_WIDTH <= n}
    kept = len(full) * _KEPT_PER_TILE
    with workdir("pel-bench-coldproofs-") as d:
        init_node(d / "node")
        node = Node.open(d / "node")
        prepared = entries_for(node, n)
        for i in range(0, n, BATCH):
            node.log.append(prepared[i : i + BATCH])
            node.log.integrate()
        root = node.log.root(n)
        node.stop()
        tree = SqliteTree(str(d / "pymerkle.db"))
        tree.append_entries([r.entry for r in prepared])
        if tree.get_root() != root:
            raise SystemExit("pymerkle and pel disagree on the root: not the same tree")
        tree.close()
        runs: dict[str, list[list[float]]] = {kind: [] for kind in _KINDS}
        pymerkle: list[float] = []
        for _ in range(args.rounds):  # alternating, so that a slow moment hits every kind
            for kind in _KINDS:
                runs[kind].append(_pass_elsewhere(d / "node", n, args.proofs, kind))
            pymerkle.append(proofs_elsewhere("pymerkle", d / "pymerkle.db", n, args.proofs)[0])
    populate, touch = _first_touch(kept)
    pages = kept // _PAGE
    print(f"  {args.proofs:,} random proofs over {n:,} entries: {len(full)} full tiles read,")
    print(f"  {kept / 2**20:.1f} MiB of tile nodes kept ({pages:,} pages of {_PAGE} bytes)")
    names = {"cold": "cold", "timed": "cold, reads timed", "touched": "cold, heap already touched"}
    for kind in _KINDS:
        for cold, faults, *_ in runs[kind]:
            label = f"pass {names[kind]}: {1e3 * cold:5.1f} ms, {faults:,.0f} faults"
            row(label, args.proofs / cold, "proofs/s")
    for _, _, _, spent, reads in runs["timed"]:
        label = f"  of which {reads:.0f} reads: {1e3 * spent:5.2f} ms"
        row(label, 1e6 * spent / max(reads, 1), "µs/read")
    warm = min(w for kind in runs.values() for _, _, w, _, _ in kind)
    row(f"warm pass (the proof work): {1e3 * warm:5.1f} ms", args.proofs / warm, "proofs/s")
    if populate is not None:
        row(f"first touch of {pages:,} fresh pages, one call", 1e6 * populate / pages, "µs/page")
    row(f"first touch of {pages:,} fresh pages, page by page", 1e6 * touch / pages, "µs/page")
    best = {kind: min(r[0] for r in runs[kind]) for kind in _KINDS}
    # What the pass pays for its fresh memory: less than the standalone price above when
    # some of what the tiles land in was touched (and freed) before the pass.
    first_touch = max(0.0, best["cold"] - best["touched"])
    print(f"  kept memory's first touch (best cold - best touched): {1e3 * first_touch:5.1f} ms")
    print(f"  what is left (reads and proof work, best touched): {1e3 * best['touched']:5.1f} ms")
    # The floor: what a pass of this design cannot do without, each part at its best.
    reads = min(r[3] for r in runs["timed"])
    floor = reads + first_touch + warm
    pm = statistics.median(pymerkle)
    pel = args.proofs / statistics.median(r[0] for r in runs["cold"])
    row(f"pymerkle cold pass (median of {len(pymerkle)})", pm, "proofs/s")
    row(f"pel cold pass (median of {len(runs['cold'])})", pel, "proofs/s", pm, "pymerkle")
    row(
        f"floor: reads + first touch + proof work = {1e3 * floor:4.1f} ms",
        args.proofs / floor,
        "proofs/s",
        pm,
        "pymerkle",
    )


if __name__ == "__main__":
    main()
