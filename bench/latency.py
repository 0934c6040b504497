"""Write latency: from ``POST /v1/records`` to a checkpoint the witness quorum has cosigned.

A demo federation (``pel demo``, each member's node its own ``pel serve`` process on
this machine) is set up and filled; then one member's back office files a steady load,
``--rate`` records a second in batches of ``--batch``. For every batch the clock starts
when its POST is sent and stops when that node's ``/checkpoint`` covers the batch's
last entry *and* carries verified cosignatures of at least the trust list's quorum of
witnesses (checked here with the witnesses' keys from the signed trust list). The
checkpoint is polled every ``--poll`` seconds, so a figure can be late by that much.

    python -m bench.latency [--states N] [--rate R] [--batch B] [--seconds S] [--poll P]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
from pathlib import Path

import httpx

from bench.common import PEL, ROOT, header, row, workdir
from pel.ledger.errors import CheckpointError
from pel.ledger.federation.trust_list import SignedTrustList
from pel.ledger.tlog.checkpoint import open_checkpoint
from pel.node.demo.synth import synth_drafts


def _start_demo(directory: Path, states: int) -> tuple[subprocess.Popen[str], dict]:
    cmd = [*PEL, "demo", "--dir", str(directory), "--states", str(states)]
    cmd += ["--workers", "40", "--months", "6", "--json"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line:
        proc.kill()
        raise RuntimeError(f"pel demo failed: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
    return proc, json.loads(line)


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def measure(directory: Path, summary: dict, args: argparse.Namespace) -> list[float]:
    """Latencies of every batch of the steady load, in seconds."""
    agency = summary["logs"][0]["agency"]
    url = summary["urls"][agency]
    trust = SignedTrustList.from_json((directory / "trust.json").read_text()).trust_list
    me = trust.member(agency)
    assert me is not None
    log_key = me.log_verifier
    witnesses = [m.witness_verifier for m in trust.members if m.agency != agency]
    quorum = trust.witness_quorum
    token = (directory / agency / "token").read_text().strip()
    drafts = synth_drafts(agency, 10**7, seed=777)

    waiting: list[tuple[int, float]] = []  # (entries needed, when the POST was sent)
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def watch() -> None:
        with httpx.Client(base_url=url, timeout=10) as c:
            while not (done.is_set() and not waiting):
                note = c.get("/checkpoint").content
                now = time.perf_counter()
                try:
                    opened = open_checkpoint(note, log_key, witnesses)
                except CheckpointError:
                    continue
                if len(opened.cosigners) >= quorum:
                    with lock:
                        covered = [w for w in waiting if w[0] <= opened.checkpoint.size]
                        for w in covered:
                            waiting.remove(w)
                            latencies.append(now - w[1])
                time.sleep(args.poll)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    every = args.batch / args.rate
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as c:
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < args.seconds:
            batch = [next(drafts) for _ in range(args.batch)]
            sent = time.perf_counter()
            r = c.post("/v1/records", json=batch)
            if r.status_code != 200:
                raise RuntimeError(f"POST refused: {r.status_code} {r.text[:300]}")
            needed = max(x["index"] for x in r.json()["records"]) + 1
            with lock:
                waiting.append((needed, sent))
            n += 1
            time.sleep(max(0.0, start + n * every - time.perf_counter()))
    done.set()
    watcher.join(120)
    if waiting:
        raise RuntimeError(f"{len(waiting)} batches never reached a witnessed checkpoint")
    return latencies


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--states", type=int, default=4, help="member states of the demo")
    p.add_argument("--rate", type=float, default=500.0, help="records per second filed")
    p.add_argument("--batch", type=int, default=50, help="records per POST")
    p.add_argument("--seconds", type=float, default=30.0, help="how long the load runs")
    p.add_argument("--poll", type=float, default=0.01, help="seconds between checkpoint reads")
    args = p.parse_args()
    header("write latency to a witnessed checkpoint")
    with workdir("pel-bench-latency-") as d:
        proc, summary = _start_demo(d / "demo", args.states)
        try:
            latencies = measure(d / "demo", summary, args)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(
        f"  {args.states} member states' nodes, witness quorum {summary['quorum']}; "
        f"{args.rate:,.0f} records/s in batches of {args.batch} for {args.seconds:.0f} s"
    )
    row(f"batches measured ({len(latencies)})", len(latencies), "")
    row("POST to quorum-cosigned checkpoint, p50", 1000 * percentile(latencies, 50), "ms")
    row("POST to quorum-cosigned checkpoint, p99", 1000 * percentile(latencies, 99), "ms")
    row("POST to quorum-cosigned checkpoint, max", 1000 * max(latencies), "ms")


if __name__ == "__main__":
    main()
