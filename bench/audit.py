"""Audit: entries/s fully verified from a served log, using both cores.

``pel verify``'s code (:func:`node.verify.verify_log`) against ``pel serve``:
every entry bundle and tile fetched over HTTP, every entry rehashed, every tile
and the root rebuilt and compared, every record's issuer signature checked.

    python -m bench.audit [--size N]
"""

from __future__ import annotations

import argparse
import json
import time

from bench.common import header, row, served, verify_all_again
from pel.crypto.keys import PublicKey
from pel.crypto.note import parse_vkey
from pel.node.access.tokens import create_token
from pel.node.agency_node import Node
from pel.node.peers.client import LogClient
from pel.node.peers.remote_verify import verify_log


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=1_000_000)
    args = p.parse_args()
    # Imported here, not at the top: the signature workers are spawned processes that
    # import this module again, and the log builder's imports are not theirs to pay for
    # (``pel verify``'s workers import only the command line's module).
    from bench.proofs import bench_dir

    limits = header(f"audit of a {args.size:,}-entry log")
    directory = bench_dir(args.size)
    settings = json.loads((directory / "node.json").read_text())
    # The node serves its entries to an auditor's token only.
    node = Node.open(directory)
    try:
        token = create_token(node.tokens, node.agency, "bench audit", role="auditor")
    finally:
        node.stop()
    with served(directory) as url, LogClient(url, token=token) as client:
        info = client.node_info()
        assert info["origin"] == settings["origin"]
        t0 = time.perf_counter()
        report = verify_log(
            client,
            parse_vkey(info["log_vkey"]),
            issuer_key=PublicKey.from_base64(info["issuer_key"]),
            samples=100,
        )
        took = time.perf_counter() - t0
    # At least: the growth benchmark appends to the same log after this one.
    assert report.entries == report.signatures >= args.size
    row(
        "entries fully verified (signature, hash, tiles)",
        report.entries / took,
        "entries/s",
        verify_all_again(limits),
        f"{limits.cores}-core Ed25519 verify rate (the higher reading)",
    )
    row(f"  {report.entries:,} entries, {report.tiles:,} tiles in", took, "s")


if __name__ == "__main__":
    main()
