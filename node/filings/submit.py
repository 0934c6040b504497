"""Submitting a filing to a node in batches, so refused rows never stop the good ones.

A batch is appended whole or not at all; when the node refuses some of its records
it names them, and the rest of the batch is sent again. Appends are idempotent by
``(issuer, id)``, so retrying after a network failure cannot append twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pel.ledger.errors import RecordError
from pel.node.errors import PeerError
from pel.node.peers.client import LogClient, RemoteError


@dataclass
class SubmitReport:
    appended: int = 0
    duplicates: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)


def _send(
    client: LogClient, batch: list[tuple[int, Any]], report: SubmitReport, retries: int
) -> None:
    pending = list(batch)
    attempt = 0
    while pending:
        try:
            answer = client.submit([rec for _, rec in pending])
        except RemoteError as exc:
            if exc.status in (401, 403) or not exc.body.get("records"):
                if exc.status in (400, 413, 422) and len(pending) == 1:
                    line = pending[0][0]
                    report.refused.append({"line": line, "code": exc.code, "message": exc.message})
                    return
                raise
            refused_positions = {p["position"]: p for p in exc.body["records"]}
            for pos, (line, _) in enumerate(pending):
                if pos in refused_positions:
                    p = refused_positions[pos]
                    report.refused.append(
                        {
                            "line": line,
                            "code": p["code"],
                            "message": p["message"],
                            "field": p.get("field"),
                        }
                    )
            pending = [row for pos, row in enumerate(pending) if pos not in refused_positions]
            continue
        except PeerError:
            attempt += 1
            if attempt > retries:
                raise
            time.sleep(min(10.0, 0.5 * 2**attempt))
            continue
        for rec in answer["records"]:
            if rec["duplicate"]:
                report.duplicates += 1
            else:
                report.appended += 1
        return


def submit_rows(
    client: LogClient,
    rows: Iterable[tuple[int, Any]],
    *,
    batch_size: int = 1000,
    retries: int = 5,
    progress: Callable[[int], None] | None = None,
) -> SubmitReport:
    """Send ``(line, record)`` rows in batches; rows that failed to parse are reported."""
    report = SubmitReport()
    batch: list[tuple[int, Any]] = []

    def flush() -> None:
        if batch:
            _send(client, batch, report, retries)
            if progress:
                progress(len(batch))
            batch.clear()

    for line, rec in rows:
        if isinstance(rec, RecordError):
            report.refused.append({"line": line, "code": rec.code, "message": rec.message})
            if progress:
                progress(1)
            continue
        batch.append((line, rec))
        if len(batch) >= batch_size:
            flush()
    flush()
    return report
