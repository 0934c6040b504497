"""Building big logs fast through the real storage code (for the proof and growth figures).

Records are real: contributions drawn from ``pel synth``'s generator, each with a
fresh id, signed by the node's issuer key (on every core) and appended with
``Log.append`` and ``Log.integrate`` exactly as the API path does; only the HTTP
layer and the per-record schema check are skipped.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pel.crypto.record import sign_record
from pel.ledger.records.entries import prepare_record
from pel.node.agency_node import Node
from pel.node.demo.synth import synth_drafts
from pel.node.serving.signature_workers import parallel_map

CHUNK = 20_000


def bulk_fill(directory: Path, target: int, *, quiet: bool = False) -> float:
    """Grow the node's log to ``target`` entries; return the records/s achieved."""
    node = Node.open(directory)
    try:
        start_size = node.log.state()[0]
        templates = [
            {"v": 1, **d, "issuer": node.agency, "issued_at": "2026-11-01T00:00:00Z"}
            for d in synth_drafts(node.agency, 1000, seed=99)
            if d["type"] == "contribution"
        ]
        began = time.perf_counter()
        size = start_size
        while size < target:
            n = min(CHUNK, target - size)
            drafts = []
            for i in range(size, size + n):
                d = dict(templates[i % len(templates)])
                d["id"] = f"bulk-{i:010d}"
                drafts.append(d)
            signed = parallel_map(lambda d: sign_record(d, node.issuer_key), drafts)
            node.log.append([prepare_record(r) for r in signed])
            node.log.integrate()
            size += n
            if not quiet:
                rate = (size - start_size) / (time.perf_counter() - began)
                print(
                    f"\r  bulk fill: {size:,}/{target:,} ({rate:,.0f}/s)", end="", file=sys.stderr
                )
        if not quiet and size > start_size:
            print(file=sys.stderr)
        took = time.perf_counter() - began
        return (size - start_size) / took if took else 0.0
    finally:
        node.stop()
