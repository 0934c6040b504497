"""Where the time of a cold inclusion proof goes: the profile behind the cold ratio.

Over a log of 100 000 entries built as in ``bench.versus_pymerkle``, with the same
1 000 random proofs, each pass in a fresh process that has only opened the log and
read its latest checkpoint:

- cold: the pass as ``bench.versus_pymerkle`` times it, with the minor page faults it
  takes. A proof under a full level-0 tile not yet cached maps that tile's slot in the
  tile-node file (``ledger.storage.tilefile``); the partial tiles at the right edge
  are read from SQLite; the file is opened, and checked against the database, by the
  first proof;
- cold, parts timed: the same pass with the time spent mapping slots and reading tiles
  summed (a wrapper around each, a fraction of a microsecond a call), the file opened
  before it (else the first map would count the opening);
- cold, file opened: the same pass with the tile-node file opened and checked before
  it, as a started node's read-ahead pass does;
- warm: the same proofs again in the cold pass's process (the proof work alone);
- pymerkle's cold pass over the same entries (its ``SqliteTree``, each in a fresh
  process too), for the ratio the target is about.

From these it prints the floor of this design (the maps, the reads and the proof work,
each at its best) and its ratio to pymerkle; what the cold pass takes above it is the
first touch of the mapped pages and of the memory the caches grow into.

    python -m bench.coldproofs [--entries N] [--proofs P] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, header, init_node, row, workdir
from bench.versus_pymerkle import BATCH, entries_for, proof_indexes, proofs_elsewhere
from pel.ledger.merkle.tiles import TILE_WIDTH
from pel.node.agency_node import Node


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


_KINDS = ("cold", "timed", "opened")


def _timed(spent: list[float], call: Any) -> Any:
    """``call`` wrapped to add its time and one call to ``spent``."""

    def timed(*args: Any) -> Any:
        t = time.perf_counter()
        try:
            return call(*args)
        finally:
            spent[0] += time.perf_counter() - t
            spent[1] += 1

    return timed


def _pass(path: Path, n: int, proofs: int, kind: str) -> None:
    """Print ``[cold s, cold faults, warm s, map s, maps, read s, reads]`` for one pass."""
    indexes = proof_indexes(n, proofs)
    node = Node.open(path)
    node.log.latest()
    maps, reads = [0.0, 0], [0.0, 0]
    if kind in ("timed", "opened"):
        node.log.tile_file()  # opened and checked, as a started node's read-ahead does
    if kind == "timed":
        # The reader's own hooks into its source (private): wrapping the source itself
        # would not be seen, the reader keeps the bound methods it was built with.
        hashes: Any = node.log.hashes
        hashes._map_tile = _timed(maps, hashes._map_tile)
        hashes._read_nodes = _timed(reads, hashes._read_nodes)
    f0, t0 = _faults(), time.perf_counter()
    for i in indexes:
        node.log.inclusion_proof(i, n)
    cold, faults = time.perf_counter() - t0, _faults() - f0
    t0 = time.perf_counter()
    for i in indexes:
        node.log.inclusion_proof(i, n)
    warm = time.perf_counter() - t0
    node.stop()
    print(json.dumps([cold, faults, warm, *maps, *reads]))


def _pass_elsewhere(path: Path, n: int, proofs: int, kind: str) -> list[float]:
    cmd = [sys.executable, "-m", "bench.coldproofs", "--measure", str(path)]
    cmd += ["--entries", str(n), "--proofs", str(proofs), "--kind", kind]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
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
    print(f"  {args.proofs:,} random proofs over {n:,} entries, under {len(full)} full tiles")
    names = {"cold": "cold", "timed": "cold, parts timed", "opened": "cold, file opened"}
    for kind in _KINDS:
        for cold, faults, *_ in runs[kind]:
            label = f"pass {names[kind]}: {1e3 * cold:5.1f} ms, {faults:,.0f} faults"
            row(label, args.proofs / cold, "proofs/s")
    for _, _, _, map_s, mapped, read_s, read in runs["timed"]:
        label = f"  of which {mapped:.0f} maps: {1e3 * map_s:5.2f} ms"
        row(label, 1e6 * map_s / max(mapped, 1), "µs/map")
        label = f"  and {read:.0f} reads: {1e3 * read_s:5.2f} ms"
        row(label, 1e6 * read_s / max(read, 1), "µs/read")
    warm = min(r[2] for kind in runs.values() for r in kind)
    row(f"warm pass (the proof work): {1e3 * warm:5.1f} ms", args.proofs / warm, "proofs/s")
    # The floor: what a pass of this design cannot do without, each part at its best.
    floor = min(r[3] for r in runs["timed"]) + min(r[5] for r in runs["timed"]) + warm
    pm = statistics.median(pymerkle)
    pel = args.proofs / statistics.median(r[0] for r in runs["cold"])
    row(f"pymerkle cold pass (median of {len(pymerkle)})", pm, "proofs/s")
    row(f"pel cold pass (median of {len(runs['cold'])})", pel, "proofs/s", pm, "pymerkle")
    row(
        f"floor: maps + reads + proof work = {1e3 * floor:4.1f} ms",
        args.proofs / floor,
        "proofs/s",
        pm,
        "pymerkle",
    )


if __name__ == "__main__":
    main()
