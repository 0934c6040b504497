"""Side by side with pymerkle's SqliteTree: 100 000 appends and 1 000 inclusion proofs.

Both take the same 100 000 entries (canonical JSON of signed contribution records)
and store them durably in SQLite on the same disk, in one run:

- pel: ``Log.append`` in batches of 1 000 (what one HTTP batch does), each batch
  committed, integrated into tiles and covered by a signed checkpoint;
- pymerkle: ``append_entry`` per entry (a service appending records as they
  arrive) and, for reference, its bulk ``append_entries`` (which stores leaves
  only: interior hashes are computed later, when proofs are asked for).

Then the same 1 000 random inclusion proofs from each, both trees checked to have
the same root first, twice:

- cold: in a fresh process that opens the stored tree (pel reads its latest checkpoint
  then, as any opened log does; no cache of either library holds anything yet; the
  operating system's file cache does, as on a running server);
- warm: the same proofs again in that process, once every tile (pel) or every
  cached subtree (pymerkle) the first pass touched is in memory.

Each library's pair of passes runs in ``--rounds`` fresh processes, the two libraries
taking turns, and the median of each figure is printed: a single fresh process's
first thousand proofs take from one to two and a half times the usual time when the
machine has a slow moment.

    python -m bench.versus_pymerkle [--entries N] [--proofs P] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, header, init_node, row, workdir
from pel.crypto.record import sign_record
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.records.entries import PreparedRecord
from pel.node.agency_node import Node
from pel.node.demo.synth import synth_drafts
from pel.node.serving.signature_workers import parallel_map

BATCH = 1000


def entries_for(node: Node, n: int) -> list[PreparedRecord]:
    templates = [
        {"v": 1, **d, "issuer": node.agency, "issued_at": "2026-11-01T00:00:00Z"}
        for d in synth_drafts(node.agency, 500, seed=5)
        if d["type"] == "contribution"
    ]
    drafts = [{**templates[i % len(templates)], "id": f"cmp-{i:08d}"} for i in range(n)]
    from pel.ledger.records.entries import prepare_record

    return [
        prepare_record(r) for r in parallel_map(lambda d: sign_record(d, node.issuer_key), drafts)
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument("--proofs", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3, help="fresh processes per library")
    p.add_argument("--measure", nargs=2, metavar=("LIBRARY", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        _measure(args.measure[0], Path(args.measure[1]), args.entries, args.proofs)
        return
    header("pel versus pymerkle (SqliteTree)")
    from pymerkle import SqliteTree

    n = args.entries
    with workdir("pel-bench-pymerkle-") as d:
        init_node(d / "node")
        node = Node.open(d / "node")
        prepared = entries_for(node, n)
        raw = [r.entry for r in prepared]

        t0 = time.perf_counter()
        for i in range(0, n, BATCH):
            node.log.append(prepared[i : i + BATCH])
            node.log.integrate()
        pel_append = n / (time.perf_counter() - t0)

        one = SqliteTree(str(d / "pymerkle-one.db"))
        t0 = time.perf_counter()
        for e in raw:
            one.append_entry(e)
        pm_append = n / (time.perf_counter() - t0)

        bulk = SqliteTree(str(d / "pymerkle-bulk.db"))
        t0 = time.perf_counter()
        bulk.append_entries(raw)
        pm_bulk = n / (time.perf_counter() - t0)

        root = node.log.root(n)
        if one.get_root() != root or bulk.get_root() != root:
            raise SystemExit("pymerkle and pel disagree on the root: not the same tree")
        if node.log.hashes.read_hashes([(0, 0)])[0] != hash_leaf(raw[0]):
            raise SystemExit("pel's first leaf hash is wrong")

        node.stop()
        one.close()
        bulk.close()
        # Each library's proofs in fresh processes of its own: cold, then warm.
        pel_runs, pm_runs = [], []
        for _ in range(args.rounds):
            pel_runs.append(proofs_elsewhere("pel", d / "node", n, args.proofs))
            pm_runs.append(proofs_elsewhere("pymerkle", d / "pymerkle-one.db", n, args.proofs))
        pel_cold, pel_warm = (statistics.median(r[k] for r in pel_runs) for k in (0, 1))
        pm_cold, pm_warm = (statistics.median(r[k] for r in pm_runs) for k in (0, 1))

    print(f"  same {n:,} entries, same root in both")
    row("pel appends (batches of 1 000, signed checkpoints)", pel_append, "entries/s")
    row("pymerkle SqliteTree.append_entry", pm_append, "entries/s")
    row("pymerkle SqliteTree.append_entries (bulk, leaves only)", pm_bulk, "entries/s")
    print(f"  inclusion proofs: the median of {args.rounds} fresh processes each")
    row(f"pel inclusion proofs, cold ({args.proofs:,}, random)", pel_cold, "proofs/s")
    row("pymerkle inclusion proofs, cold", pm_cold, "proofs/s")
    row("pel inclusion proofs, warm (same proofs again)", pel_warm, "proofs/s")
    row("pymerkle inclusion proofs, warm", pm_warm, "proofs/s")
    print(f"  ratio appends, pel / pymerkle append_entry:      {pel_append / pm_append:8.1f}x")
    print(f"  ratio appends, pel / pymerkle append_entries:    {pel_append / pm_bulk:8.2f}x")
    print(f"  ratio inclusion proofs, cold, pel / pymerkle:    {pel_cold / pm_cold:8.1f}x")
    print(f"  ratio inclusion proofs, warm, pel / pymerkle:    {pel_warm / pm_warm:8.1f}x")


def proof_indexes(n: int, proofs: int) -> list[int]:
    rng = random.Random(1)
    return [rng.randrange(n) for _ in range(proofs)]


def proofs_elsewhere(library: str, path: Path, n: int, proofs: int) -> tuple[float, float]:
    """(cold, warm) proofs/s of ``library`` over the tree at ``path``, in a fresh process."""
    cmd = [sys.executable, "-m", "bench.versus_pymerkle", "--measure", library, str(path)]
    cmd += ["--entries", str(n), "--proofs", str(proofs)]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    cold, warm = json.loads(out.splitlines()[-1])
    return float(cold), float(warm)


def _measure(library: str, path: Path, n: int, proofs: int) -> None:
    """Print ``[cold, warm]`` proofs/s: the same proofs twice, in this (fresh) process."""
    indexes = proof_indexes(n, proofs)
    if library == "pel":
        node = Node.open(path)
        # What opening a log for serving reads in any case, before a proof is asked for:
        # its latest checkpoint, verified (``pel serve`` checks far more at start-up). The
        # tile cache stays empty.
        node.log.latest()

        def prove(i: int) -> object:
            return node.log.inclusion_proof(i, n)

    else:
        from pymerkle import SqliteTree

        tree = SqliteTree(str(path))

        def prove(i: int) -> object:
            return tree.prove_inclusion(i + 1, n)  # pymerkle counts leaves from one

    rates = []
    for _ in range(2):
        t0 = time.perf_counter()
        for i in indexes:
            prove(i)
        rates.append(len(indexes) / (time.perf_counter() - t0))
    print(json.dumps(rates))


if __name__ == "__main__":
    main()
