"""``pel synth`` and ``pel submit``: write synthetic filings and submit filings to a node."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pel.node.cli.common import err, friendly, out, rate_progress
from pel.node.demo.synth import synth_drafts
from pel.node.filings.reader import count_rows, read_filing
from pel.node.filings.submit import submit_rows
from pel.node.peers.client import LogClient


@friendly
def synth(
    agency: Annotated[str, typer.Option(help="Agency id whose back office files the records")],
    records: Annotated[int, typer.Option(min=1, help="How many record drafts")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="JSONL file (default stdout)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
) -> None:
    """Write realistic synthetic record drafts (JSON Lines) for tests, demos and benchmarks."""

    sink = out_file.open("w", encoding="utf-8") if out_file else sys.stdout
    written = 0
    try:
        for draft in synth_drafts(agency, records, seed=seed):
            sink.write(json.dumps(draft, separators=(",", ":")) + "\n")
            written += 1
    finally:
        if out_file:
            sink.close()
    if out_file:
        # Without --out stdout carries the records themselves: nothing else is said there.
        out.print(
            f"wrote {written} record drafts for {agency} to {out_file} "
            f"({out_file.stat().st_size:,} bytes)",
            markup=False,
            highlight=False,
        )


@friendly
def submit(
    url: Annotated[str, typer.Argument(help="The node's base URL")],
    file: Annotated[Path, typer.Argument(help="JSON Lines or .csv filing")],
    token: Annotated[str, typer.Option(envvar="PEL_TOKEN", help="Write token")],
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Records per request")] = 1000,
    in_flight: Annotated[
        int, typer.Option(min=1, max=64, help="Batches on their way to the node at once")
    ] = 4,
    report: Annotated[Path | None, typer.Option(help="Write refused rows here (JSONL)")] = None,
) -> None:
    """Submit a filing in batches, several in flight; refused rows are reported (in line
    order) and never stop the good ones."""

    total = count_rows(file)
    started = time.perf_counter()
    with LogClient(url, token=token) as client, rate_progress("records") as bar:
        task = bar.add_task("submitting", total=total)
        result = submit_rows(
            client,
            read_filing(file, raw=True),
            batch_size=batch,
            in_flight=in_flight,
            progress=lambda n: bar.advance(task, n),
        )
    took = time.perf_counter() - started
    table = Table(title=f"{file.name} → {url}")
    table.add_column("appended", justify="right")
    table.add_column("already in the log", justify="right")
    table.add_column("refused", justify="right")
    table.add_row(str(result.appended), str(result.duplicates), str(len(result.refused)))
    out.print(table)
    out.print(
        f"{result.appended} appended, {result.duplicates} already in the log, "
        f"{len(result.refused)} refused in {took:.1f} s ({total / took if took else 0:,.0f} rows/s)"
    )
    for row in result.refused[:20]:
        err.print(
            f"line {row['line']}: {row['message']} [{row['code']}]", markup=False, highlight=False
        )
    if len(result.refused) > 20:
        err.print(f"… and {len(result.refused) - 20} more refused rows", markup=False)
    if report:
        report.write_text("".join(json.dumps(r) + "\n" for r in result.refused))
    if result.refused:
        raise typer.Exit(2)
