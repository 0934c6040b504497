"""Start-up check: how long the full check of a stored log takes, before and after the
check read every stored fact against the signed entries.

"Before" is the check as the code stood before that change: its source is taken out of
git (the parent of the commit that added ``ledger/tlog/entry_check.py``, or ``--before
REV``) into a temporary directory and run on the same node directory. "After" is this
tree's default start-up check (``Node.check``: the database's own index check, one pass
that rehashes every entry and reads every row's columns against its entry, pending
entries verified as signed records), then its parts and the quick check. Each run is a
fresh process on a log of :mod:`bench.bulk` (built on first use, in ``var/bench``).

    python -m bench.startcheck [--size N] [--before REV]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, header, row
from bench.proofs import bench_dir

LAYERS = ("crypto", "ledger", "node", "api", "web")


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def before_revision() -> str:
    """The commit before the one that added the entry check."""
    added = _git("log", "--diff-filter=A", "--format=%H", "--", "ledger/tlog/entry_check.py")
    if not added:
        raise SystemExit("no commit adds ledger/tlog/entry_check.py here: give --before REV")
    return _git("rev-parse", added.splitlines()[-1] + "^")


def old_tree(revision: str, into: Path) -> Path:
    """The ``pel`` packages as they were at ``revision``, importable from ``into``."""
    archive = subprocess.run(
        ["git", "archive", revision, *LAYERS], cwd=ROOT, check=True, capture_output=True
    ).stdout
    src = into / "src"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(src, filter="data")
    pel = into / "pel"  # a namespace package found before the installed one
    pel.mkdir()
    for layer in LAYERS:
        if (src / layer).exists():
            (pel / layer).symlink_to(src / layer)
    return into


def _measure(directory: Path, mode: str) -> None:
    """Run one check in this process and print ``seconds entries``."""
    from pel.node.agency_node import Node

    node = Node.open(directory)
    try:
        size = node.log.state()[0]
        began = time.perf_counter()
        if mode == "database":
            from pel.ledger.storage.engine import check_database

            check_database(node.engine, ["entries", "tiles", "tile_nodes", "checkpoints"])
        elif mode == "signatures":
            node.check(full=True, signatures=True)
        else:
            node.check(full=mode != "quick")
        print(f"{time.perf_counter() - began:.3f} {size}")
    finally:
        node.stop()


def _run(directory: Path, mode: str, pythonpath: Path | None = None) -> tuple[float, int]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    cmd = [sys.executable, "-m", "bench.startcheck", "--measure", mode, "--dir", str(directory)]
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    seconds, entries = out.stdout.split()[-2:]
    return float(seconds), int(entries)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--before", help="the revision to measure as before (default: see above)")
    p.add_argument("--signatures", action="store_true", help="also time --signatures")
    p.add_argument("--measure", help=argparse.SUPPRESS)
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        _measure(args.dir, args.measure)
        return
    limits = header(f"start-up check at {args.size:,} entries")
    directory = bench_dir(args.size)
    revision = args.before or before_revision()
    print(f"  before: the check at {revision[:12]} (its source from git); after: this tree")
    with tempfile.TemporaryDirectory(prefix="pel-before-") as tmp:
        old = old_tree(revision, Path(tmp))
        _run(directory, "full", old)  # the file cache warmed alike for every run
        before, entries = _run(directory, "full", old)
    after, _ = _run(directory, "full")
    row("full check before (rehash and compare tiles)", before, "s")
    row("  entries per second", entries / before, "/s", limits.sha256, "SHA-256 of 65 B")
    row("full check after (also columns, index check, pending)", after, "s")
    row("  entries per second", entries / after, "/s", limits.sha256, "SHA-256 of 65 B")
    row("  after / before", after / before, "x")
    database, _ = _run(directory, "database")
    row("  of which the database's own check (integrity_check)", database, "s")
    quick, _ = _run(directory, "quick")
    row("quick check (--quick-check)", quick, "s")
    if args.signatures:
        signed, _ = _run(directory, "signatures")
        row("full check with every signature (pel check --signatures)", signed, "s")
        rate = entries / signed
        row("  signatures per second", rate, "/s", limits.verify_all, "verify, all cores")


if __name__ == "__main__":
    main()
