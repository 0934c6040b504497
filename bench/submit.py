"""``pel submit`` as a back office runs it: a filing of 200 000 records, end to end.

``pel serve`` runs in its own process; ``pel submit URL FILE`` runs in another, as a
user types it (several batches in flight, its defaults). The clock starts when the
command is started and stops when a signed checkpoint covers every record. The figure is
printed as a ratio to one core's Ed25519 sign rate (the node signs every draft), and
beside the node's own figure with several concurrent clients (:mod:`bench.ingest`) on
the same drafts, measured in the same run.

    python -m bench.submit [--records N] [--in-flight K] [--clients C] [--skip-node]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time

import httpx

from bench.common import PEL, ROOT, header, init_node, row, served, workdir
from bench.ingest import _bodies, _minted_in_filing_order, ingest
from pel.node.demo.synth import synth_drafts

SEED = 7


def _filing(records: int) -> list[bytes]:
    """The JSON Lines rows of the filing: the drafts :mod:`bench.ingest` sends."""
    drafts = list(synth_drafts("TH-SSO", records, seed=SEED))
    _minted_in_filing_order(drafts, SEED)
    return [json.dumps(d, separators=(",", ":")).encode() for d in drafts]


def _wait_checkpoint(url: str, records: int) -> None:
    with httpx.Client(base_url=url) as c:
        deadline = time.monotonic() + 600
        while True:
            r = c.get("/checkpoint")
            if r.status_code == 200 and int(r.text.split("\n")[1]) >= records:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"no checkpoint reached {records:,} entries")
            time.sleep(0.01)


def pel_submit(records: int, in_flight: int, lines: list[bytes]) -> float:
    """Seconds from starting ``pel submit`` until a checkpoint covers every record."""
    with workdir("pel-bench-submit-") as d:
        info = init_node(d / "node")
        filing = d / "filing.jsonl"
        filing.write_bytes(b"\n".join(lines) + b"\n")
        with served(d / "node") as url:
            cmd = [*PEL, "submit", url, str(filing), "--in-flight", str(in_flight)]
            start = time.perf_counter()
            done = subprocess.run(
                cmd,
                cwd=ROOT,
                capture_output=True,
                text=True,
                env={**os.environ, "PEL_TOKEN": info["token"]},
                timeout=900,
            )
            if done.returncode != 0:
                raise RuntimeError(f"pel submit failed: {done.stderr[-2000:]}")
            _wait_checkpoint(url, records)
            return time.perf_counter() - start


def node_figure(records: int, clients: int) -> float:
    """The node's own ingest with ``clients`` concurrent clients, on the same drafts
    (:func:`bench.ingest.ingest`, batches of 1 000 cut between corrections)."""
    bodies = _bodies(records, seed=SEED, ids="filing")
    with workdir("pel-bench-submit-node-") as d:
        info = init_node(d / "node")
        with served(d / "node") as url:
            return ingest(url, info["token"], bodies, records, clients)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--in-flight", type=int, default=4, help="pel submit --in-flight")
    p.add_argument("--clients", type=int, default=3, help="clients of the node's own figure")
    p.add_argument("--skip-node", action="store_true", help="leave out the node's own figure")
    args = p.parse_args()
    limits = header("pel submit, end to end")
    lines = _filing(args.records)
    took = pel_submit(args.records, args.in_flight, lines)
    rate = args.records / took
    row(
        f"pel submit ({args.records:,} records, {args.in_flight} in flight)",
        rate,
        "records/s",
        limits.sign,
        "one core's Ed25519 sign rate",
    )
    row(f"  {args.records:,} records in", took, "s")
    if args.skip_node:
        return
    node = args.records / node_figure(args.records, args.clients)
    row(
        f"the node's own ingest ({args.clients} clients)",
        node,
        "records/s",
        limits.sign,
        "one core's Ed25519 sign rate",
    )
    row("pel submit / the node's own figure", rate / node, "x")


if __name__ == "__main__":
    main()
