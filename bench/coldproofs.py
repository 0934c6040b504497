"""Where the time of a cold inclusion proof goes: the profile behind the cold ratio.

Over a log of 100 000 entries built as in ``bench.versus_pymerkle``, with the same
1 000 random proofs, each pass in a fresh process that has only opened the log and
read its latest checkpoint:

- cold: the pass as ``bench.versus_pymerkle`` times it, with the minor page faults it
  takes (a full level-0 tile is read for each leaf whose tile is not yet cached, and its
  16 KiB of nodes are kept for the next proofs);
- cold, heap touched: the same pass after the process has allocated and freed as much
  memory as the kept tiles need, with glibc told to keep what is freed
  (``MALLOC_TRIM_THRESHOLD_``). The tiles then land in memory the process has already
  touched, so what remains is the reads and the proof work. This is a measurement aid,
  not a setting pel uses;
- warm: the same proofs again in the cold pass's process (the proof work alone).

It also measures what this machine charges for memory touched for the first time: a
fresh anonymous mapping of the kept tiles' size, populated in one call
(``MADV_POPULATE_WRITE``, no fault per page) and page by page.

    python -m bench.coldproofs [--entries N] [--proofs P]
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, header, init_node, row, workdir
from bench.versus_pymerkle import BATCH, entries_for, proof_indexes
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


def _pass(path: Path, n: int, proofs: int, touched: bool) -> None:
    """Print ``[cold s, cold faults, warm s]`` for the pass over the log at ``path``."""
    indexes = proof_indexes(n, proofs)
    node = Node.open(path)
    node.log.latest()
    if touched:
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
    print(json.dumps([cold, faults, warm]))


def _pass_elsewhere(path: Path, n: int, proofs: int, touched: bool) -> tuple[float, int, float]:
    cmd = [sys.executable, "-m", "bench.coldproofs", "--measure", str(path)]
    cmd += ["--entries", str(n), "--proofs", str(proofs)] + (["--touched"] if touched else [])
    env = dict(os.environ)
    if touched:
        env["MALLOC_TRIM_THRESHOLD_"] = str(1 << 30)
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    cold, faults, warm = json.loads(out.stdout.splitlines()[-1])
    return float(cold), int(faults), float(warm)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument("--proofs", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3, help="fresh processes per kind of pass")
    p.add_argument("--measure", metavar="PATH", help=argparse.SUPPRESS)
    p.add_argument("--touched", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    n = args.entries
    if args.measure:
        _pass(Path(args.measure), n, args.proofs, args.touched)
        return
    header("where a cold inclusion proof's time goes")
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
        node.stop()
        runs: dict[bool, list[tuple[float, int, float]]] = {False: [], True: []}
        for _ in range(args.rounds):  # alternating, so that a slow moment hits both kinds
            for touched in (False, True):
                runs[touched].append(_pass_elsewhere(d / "node", n, args.proofs, touched))
    populate, touch = _first_touch(kept)
    pages = kept // _PAGE
    print(f"  {args.proofs:,} random proofs over {n:,} entries: {len(full)} full tiles read,")
    print(f"  {kept / 2**20:.1f} MiB of tile nodes kept ({pages:,} pages of {_PAGE} bytes)")
    for touched, name in ((False, "cold"), (True, "cold, heap already touched")):
        for cold, faults, _ in runs[touched]:
            label = f"pass {name}: {1e3 * cold:5.1f} ms, {faults:,} faults"
            row(label, args.proofs / cold, "proofs/s")
    warm = min(w for kind in runs.values() for _, _, w in kind)
    row(f"warm pass (the proof work): {1e3 * warm:5.1f} ms", args.proofs / warm, "proofs/s")
    if populate is not None:
        row(f"first touch of {pages:,} fresh pages, one call", 1e6 * populate / pages, "µs/page")
    row(f"first touch of {pages:,} fresh pages, page by page", 1e6 * touch / pages, "µs/page")
    best = {t: min(c for c, _, _ in runs[t]) for t in runs}
    first_touch = best[False] - best[True]
    print(f"  kept memory's first touch (best cold - best touched): {1e3 * first_touch:5.1f} ms")
    print(f"  what is left (reads and proof work, best touched): {1e3 * best[True]:5.1f} ms")


if __name__ == "__main__":
    main()
