"""``pel demo``: the ASEAN federation on one machine (see node/demo.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pel.node.cli.common import err, friendly, out
from pel.node.demo.run import DemoOptions, run_demo
from pel.node.demo.view import print_summary


@friendly
def demo(
    states: Annotated[
        int, typer.Option(min=2, max=10, help="How many member states (the first N)")
    ] = 10,
    workers: Annotated[int, typer.Option(min=1, help="Synthetic migrant workers")] = 500,
    months: Annotated[
        int, typer.Option(min=1, max=240, help="Months of contributions (from 2023-01)")
    ] = 48,
    directory: Annotated[
        Path, typer.Option("--dir", help="Demo directory (reused when it holds the same demo)")
    ] = Path("var/demo"),
    base_port: Annotated[
        int | None, typer.Option(min=1, max=65525, help="Ports P, P+1, … (default: free ports)")
    ] = None,
    quorum: Annotated[
        int | None, typer.Option(min=1, help="Witness quorum k (default: half the states)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic data")] = 0,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for every log to be witnessed")
    ] = 120.0,
    exit_after: Annotated[
        bool, typer.Option(help="Set up, fill, print the summary, stop every node, exit")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object")
    ] = False,
    init_only: Annotated[
        bool, typer.Option(help="Only create the node directories and the signed trust list")
    ] = False,
    load_only: Annotated[
        bool, typer.Option(help="Only fill nodes already running at their trust-list URLs")
    ] = False,
    url_template: Annotated[
        str, typer.Option(help="Each node's URL: {agency} {host} {db} {port}")
    ] = "http://127.0.0.1:{port}",
    database_template: Annotated[
        str | None,
        typer.Option(help="Each node's database URL, e.g. postgresql+psycopg://db/{db}"),
    ] = None,
) -> None:
    """Run the ASEAN federation: every state's agency node, witnessing each other, filled."""

    talk = err if as_json else out
    opts = DemoOptions(
        directory=directory,
        states=states,
        workers=workers,
        months=months,
        quorum=quorum,
        base_port=base_port,
        seed=seed,
        timeout=timeout,
        exit_after=exit_after,
        init_only=init_only,
        load_only=load_only,
        url_template=url_template,
        database_template=database_template,
    )

    def show(result: Any) -> None:
        if as_json:
            print(json.dumps(result.to_json()), flush=True)
        else:
            print_summary(out, result)

    code = run_demo(opts, lambda line: talk.print(line, highlight=False, markup=False), show)
    if code:
        raise typer.Exit(code)
