"""Submitting a filing to a node in batches, several in flight, so refused rows never stop
the good ones and the node's cores never wait for the client.

A batch is appended whole or not at all; when the node refuses some of its records
it names them, and the rest of the batch is sent again. Appends are idempotent by
``(issuer, id)``, so retrying after a network failure cannot append twice.

Up to ``in_flight`` batches are on their way at once (a bounded queue: the filing is
read only as fast as the node takes it). Batches may then be committed out of filing
order, and a correction (amendment, revocation) can reach the node before the record it
names: the node refuses it as ``unknown_target``, and such records are sent again once
every batch before them is in, in filing order; only a second refusal is reported. The
report lists refused rows in line order, whatever order the batches finished in.

JSON Lines rows can be passed as :class:`RawJSON` (the line's bytes, unparsed): the
batch is then the lines joined into an array, so the client spends no time decoding and
encoding what the node parses anyway. A line the node cannot parse is found by parsing
that batch's lines here, on that error path only.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from pel.ledger.errors import RecordError
from pel.node.errors import PeerError
from pel.node.filings.reader import RawJSON, Row
from pel.node.peers.client import LogClient, RemoteError

#: A dependency the node cannot see yet when batches commit out of order.
_WAIT_FOR_EARLIER = "unknown_target"


__all__ = ["RawJSON", "Row", "SubmitReport", "submit_rows"]


@dataclass
class SubmitReport:
    """What a submission did: new entries, rows already in the log, refused rows (by line)."""

    appended: int = 0
    duplicates: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: SubmitReport) -> None:
        self.appended += other.appended
        self.duplicates += other.duplicates
        self.refused.extend(other.refused)


def _body(batch: list[Row]) -> bytes:
    parts = [
        rec.text if isinstance(rec, RawJSON) else json.dumps(rec, separators=(",", ":")).encode()
        for _, rec in batch
    ]
    return b"[" + b",".join(parts) + b"]"


def _parsed(batch: list[Row], report: SubmitReport) -> list[Row]:
    """The batch with its raw rows decoded; rows that are not JSON are refused."""
    kept: list[Row] = []
    for line, rec in batch:
        if isinstance(rec, RawJSON):
            try:
                rec = json.loads(rec.text)
            except ValueError as exc:
                report.refused.append(
                    {"line": line, "code": "bad_json", "message": f"not JSON: {exc}"}
                )
                continue
        kept.append((line, rec))
    return kept


def _send(
    client: LogClient,
    batch: list[Row],
    *,
    retries: int,
    defer: bool,
) -> tuple[SubmitReport, list[Row]]:
    """Send one batch until what is left of it is appended.

    Returns:
        The batch's report, and the rows put off because they name a record not yet in
        the log (only with ``defer``).
    """
    report = SubmitReport()
    deferred: list[Row] = []
    pending = list(batch)
    attempt = 0
    singly = False
    while pending:
        if singly and len(pending) > 1:
            # The node refused the batch as a whole without naming a record: each row
            # alone says which of them it was.
            for row in pending:
                sub, later = _send(client, [row], retries=retries, defer=defer)
                report.add(sub)
                deferred.extend(later)
            return report, deferred
        try:
            answer = client.submit_body(_body(pending))
        except RemoteError as exc:
            if exc.status in (401, 403):
                raise
            if not exc.body.get("records"):
                if exc.status not in (400, 413, 415, 422):
                    raise
                if any(isinstance(rec, RawJSON) for _, rec in pending):
                    pending = _parsed(pending, report)
                    continue
                if len(pending) == 1:
                    line = pending[0][0]
                    report.refused.append({"line": line, "code": exc.code, "message": exc.message})
                    return report, deferred
                singly = True
                continue
            refused_positions = {p["position"]: p for p in exc.body["records"]}
            for pos, row in enumerate(pending):
                p = refused_positions.get(pos)
                if p is None:
                    continue
                if defer and p["code"] == _WAIT_FOR_EARLIER:
                    deferred.append(row)
                    continue
                report.refused.append(
                    {
                        "line": row[0],
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
        return report, deferred
    return report, deferred


def submit_rows(
    client: LogClient,
    rows: Iterable[Row],
    *,
    batch_size: int = 1000,
    retries: int = 5,
    in_flight: int = 4,
    progress: Callable[[int], None] | None = None,
) -> SubmitReport:
    """Send ``(line, record)`` rows in batches, up to ``in_flight`` at once.

    Args:
        client: The node's client (with a write token).
        rows: The filing's rows in order; rows that failed to parse are reported.
        batch_size: Records per request.
        retries: Attempts after a transport failure, per batch.
        in_flight: Batches on their way at once (1: one after the other).
        progress: Called with the number of rows each finished batch accounted for.

    Returns:
        The report, refused rows in line order.

    Raises:
        PeerError: the node refused the token, or stayed unreachable; batches already
            acknowledged stay appended (a second run reports them as already there).
    """
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
    report = SubmitReport()
    deferred: list[Row] = []
    lock = threading.Lock()
    defer = in_flight > 1
    window: deque[Future[None]] = deque()
    failure: list[BaseException] = []

    def run(batch: list[Row]) -> None:
        sub, later = _send(client, batch, retries=retries, defer=defer)
        with lock:
            report.add(sub)
            deferred.extend(later)
        if progress:
            progress(len(batch) - len(later))

    def settle(block: bool) -> None:
        """Take in finished batches; with ``block``, wait until one has finished."""
        if block and window:
            wait(window, return_when=FIRST_COMPLETED)
        for fut in [f for f in window if f.done()]:
            window.remove(fut)
            exc = fut.exception()
            if exc is not None and not failure:
                failure.append(exc)

    with ThreadPoolExecutor(in_flight, thread_name_prefix="pel-submit") as pool:
        batch: list[Row] = []

        def flush() -> None:
            while len(window) >= in_flight and not failure:
                settle(block=True)
            if failure:
                return
            window.append(pool.submit(run, list(batch)))
            batch.clear()

        for line, rec in rows:
            if failure:
                break
            if isinstance(rec, RecordError):
                with lock:
                    report.refused.append({"line": line, "code": rec.code, "message": rec.message})
                if progress:
                    progress(1)
                continue
            batch.append((line, rec))
            if len(batch) >= batch_size:
                flush()
        if batch and not failure:
            flush()
        while window:
            settle(block=True)
    if failure:
        raise failure[0]
    # Corrections that reached the node before what they correct: again, in filing order,
    # now that every batch is in.
    deferred.sort(key=lambda row: row[0])
    for start in range(0, len(deferred), batch_size):
        part = deferred[start : start + batch_size]
        sub, _ = _send(client, part, retries=retries, defer=False)
        report.add(sub)
        if progress:
            progress(len(part))
    report.refused.sort(key=lambda r: r["line"])
    return report
