"""Ingest: records/s end to end over HTTP, on SQLite and on PostgreSQL.

Batches of 1 000 drafts are POSTed by a few concurrent clients to ``pel serve``
running in its own process; every batch is acknowledged only after its commit.
The clock stops when a signed checkpoint covers every record.

The drafts are worker histories (:func:`node.synth.synth_drafts`). Their record ids are
UUIDv7s, and ``--ids`` says when they were minted:

- ``filing`` (the default): in filing order, a millisecond apart, as a back office
  mints them when it files a month's records; each id then lands at the end of the
  node's record-id index;
- ``history``: at each record's issue month, 36 months interleaved, with random tails,
  as ids carried over from older systems would come; each id then lands on a random
  page of that index, and at millions of records every commit of 1 000 writes about
  as many of its pages.

    python -m bench.ingest [--records N] [--clients C] [--backend sqlite|postgresql|both]
                           [--ids filing|history]
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from typing import Any

import httpx

from bench.common import (
    fresh_pg_schema,
    header,
    init_node,
    pg_available,
    row,
    served,
    workdir,
)
from pel.node.demo.synth import synth_drafts, uuid7

BATCH = 1000
IDS = ("filing", "history")
FILED_FROM_MS = 1_764_835_200_000  # 2025-12-04T08:00:00Z: when the filing's ids are minted


def _minted_in_filing_order(drafts: list[dict[str, Any]], seed: int) -> None:
    """Give the drafts new record ids minted in their order, a millisecond apart, and make
    every reference to an old id (``{"id": ...}`` in a body) follow. The first is minted
    ``seed`` milliseconds after ``FILED_FROM_MS``: ``bench.growth`` seeds with the log's
    size, so each of its runs mints after the ids of the run before."""
    rng = random.Random(f"ids:{seed}")
    new = {d["id"]: uuid7(rng, FILED_FROM_MS + seed + i) for i, d in enumerate(drafts)}

    def follow(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: new.get(v, v) if k == "id" and isinstance(v, str) else follow(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [follow(v) for v in value]
        return value

    for d in drafts:
        d["id"] = new[d["id"]]
        d["body"] = follow(d["body"])


def _bodies(records: int, seed: int, ids: str = "filing") -> list[bytes]:
    """Batches of about ``BATCH`` drafts, cut only where no later draft corrects an
    earlier one: concurrent clients may commit batches in any order, and a node refuses
    an amendment whose target is not yet in the log (as a back office would file them)."""
    drafts = list(synth_drafts("TH-SSO", records, seed=seed))
    if ids == "filing":
        _minted_in_filing_order(drafts, seed)
    position = {d["id"]: i for i, d in enumerate(drafts)}
    # earliest[i]: the lowest position that draft i or a later one depends on.
    earliest = list(range(len(drafts)))
    for i, d in enumerate(drafts):
        target = d["body"].get("target") if d["type"] in ("amendment", "revocation") else None
        if target is not None:
            earliest[i] = min(i, position[target["id"]])
    for i in range(len(drafts) - 2, -1, -1):
        earliest[i] = min(earliest[i], earliest[i + 1])
    bodies, start = [], 0
    for cut in range(1, len(drafts) + 1):
        if cut == len(drafts) or (cut - start >= BATCH and earliest[cut] >= cut):
            bodies.append(json.dumps(drafts[start:cut]).encode())
            start = cut
    return bodies


def _checkpoint_size(client: httpx.Client) -> int:
    r = client.get("/checkpoint")
    return int(r.text.split("\n")[1]) if r.status_code == 200 else 0


def ingest(url: str, token: str, bodies: list[bytes], records: int, clients: int) -> float:
    """Seconds from the first POST until a checkpoint covers all ``records``."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(
            base_url=url,
            timeout=120,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as c:
            while True:
                with lock:
                    if not queue or errors:
                        return
                    body = queue.pop()
                r = c.post("/v1/records", content=body)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:300]}")

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    with httpx.Client(base_url=url) as c:
        deadline = time.monotonic() + 600
        while (size := _checkpoint_size(c)) < records:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no checkpoint reached {records:,} entries (at {size:,})")
            time.sleep(0.01)
    return time.perf_counter() - start


def run(backend: str, records: int, clients: int, limits_sign: float, ids: str = "filing") -> float:
    with workdir("pel-bench-ingest-") as d:
        database = fresh_pg_schema("bench_ingest") if backend == "postgresql" else None
        info = init_node(d / "node", database=database)
        bodies = _bodies(records, seed=7, ids=ids)
        with served(d / "node") as url:
            took = ingest(url, info["token"], bodies, records, clients)
    rate = records / took
    row(
        f"ingest over HTTP, {backend} ({records:,} records, {clients} clients, {ids} ids)",
        rate,
        "records/s",
        limits_sign,
        "one core's Ed25519 sign rate",
    )
    row(f"  {records:,} records in", took, "s")
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--ids", choices=IDS, default="filing", help="when the record ids were minted")
    args = p.parse_args()
    limits = header("ingest")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "postgresql" and not pg_available():
            print("  postgresql: not reachable, skipped")
            continue
        run(backend, args.records, args.clients, limits.sign, args.ids)


if __name__ == "__main__":
    main()
