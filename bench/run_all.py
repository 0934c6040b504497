"""Every benchmark, one after the other (``make bench``). Each prints its own figures.

    python -m bench.run_all [--quick]

``--quick`` uses small sizes (a few minutes in all) to check that everything runs;
the README's figures come from the full run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.common import ROOT

FULL = [
    ["bench.ingest", "--records", "3000000", "--backend", "sqlite"],
    ["bench.ingest", "--records", "3000000", "--backend", "sqlite", "--ids", "history"],
    ["bench.ingest", "--records", "1000000", "--backend", "postgresql"],
    ["bench.proofs", "--size", "1000000"],
    ["bench.audit", "--size", "1000000"],
    ["bench.mirror", "--size", "1000000"],
    ["bench.versus_pymerkle"],
    ["bench.coldproofs"],
    ["bench.disk"],
    ["bench.growth"],
    ["bench.coldstart"],
    ["bench.cosign"],
]
QUICK = [
    ["bench.ingest", "--records", "20000"],
    ["bench.ingest", "--records", "20000", "--backend", "sqlite", "--ids", "history"],
    ["bench.proofs", "--size", "50000", "--seconds", "3"],
    ["bench.audit", "--size", "50000"],
    ["bench.mirror", "--size", "20000"],
    ["bench.versus_pymerkle", "--entries", "10000", "--proofs", "200"],
    ["bench.coldproofs", "--entries", "10000", "--proofs", "200", "--rounds", "1"],
    ["bench.disk", "--records", "20000"],
    ["bench.growth", "--sizes", "0,50000", "--records", "10000"],
    ["bench.coldstart", "--size", "50000", "--proofs", "500"],
    ["bench.cosign"],
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    failed = 0
    for cmd in QUICK if args.quick else FULL:
        print(f"\n$ python -m {' '.join(cmd)}", flush=True)
        failed += subprocess.run([sys.executable, "-m", *cmd], cwd=ROOT).returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
