"""Mirror: entries/s a member's node copies from another member's log, fully verified.

Two members of one federation (trust list signed by both, as ``pel demo`` sets it up):
the first's log is filled with ``--size`` real signed contributions (:mod:`bench.bulk`)
and served; then the second node is started and mirrors it as it does in a
federation (``node/mirror.py``): every entry bundle fetched over HTTP, every record
parsed, checked to be canonical JSON of the member's agency and its signature
verified, every leaf hashed and the tiles and root rebuilt against the signed
checkpoint, everything stored. The clock runs from the second node's launch until its
``/v1/node`` reports the whole log verified, start-up included (about a second, printed
on its own); a million entries by default, so that the figure is the catch-up's rate
rather than the start-up's. Both nodes run on this machine.

    python -m bench.mirror [--size N]
"""

from __future__ import annotations

import argparse
import time

import httpx

from bench.bulk import bulk_fill
from bench.common import header, row, served, verify_all_again, workdir
from pel.node.demo.setup import ORIGINS, free_ports, setup_federation

SOURCE, MIRROR = "TH-SSO", "MY-PERKESO"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=1_000_000)
    args = p.parse_args()
    limits = header(f"mirror of a {args.size:,}-entry log")
    with workdir("pel-bench-mirror-") as d:
        ports = free_ports(2)
        setup_federation(d / "fed", [SOURCE, MIRROR], ports=ports, quorum=1)
        bulk_fill(d / "fed" / SOURCE, args.size, quiet=True)
        with served(d / "fed" / SOURCE, port=ports[0]):
            t0 = time.perf_counter()
            with served(d / "fed" / MIRROR, port=ports[1]) as url:
                started = time.perf_counter() - t0
                took = _until_mirrored(url, ORIGINS[SOURCE], args.size) - t0
    row(
        "entries mirrored (fetched, signature, hash, tiles)",
        args.size / took,
        "entries/s",
        verify_all_again(limits),
        f"{limits.cores}-core Ed25519 verify rate (the higher reading)",
    )
    row(f"  {args.size:,} entries in", took, "s")
    row("  of which the mirroring node's start-up (until it serves)", started, "s")


def _until_mirrored(url: str, origin: str, size: int, seconds: float = 3600) -> float:
    """When the node at ``url`` reports ``origin``'s log verified up to ``size``."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            mirror = client.get("/v1/node").json()["mirrors"][origin]
            if mirror["error"]:
                raise RuntimeError(f"the mirror failed: {mirror['error']}")
            if mirror["size"] >= size:
                return time.perf_counter()
            if time.monotonic() > deadline:
                raise RuntimeError(f"not mirrored after {seconds} s: {mirror}")
            time.sleep(0.25)  # seldom: each look costs the node being measured


if __name__ == "__main__":
    main()
