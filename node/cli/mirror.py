"""``pel mirror status``: how far a node's mirrors of the other logs are verified."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress_bar import ProgressBar
from rich.table import Table

from pel.node.agency_node import Node
from pel.node.cli.common import friendly, out

app = typer.Typer(
    help="Mirrors: this node's verified copies of the other logs.", no_args_is_help=True
)


@app.command("status")
@friendly
def mirror_status(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
) -> None:
    """How far this node's copy of each member's log is verified, and the logs flagged."""

    node = Node.open(directory)
    try:
        status = node.mirror_status()
        states = {st.origin: st for st in node.mirrors.states()}
    finally:
        node.stop()
    if as_json:
        sys.stdout.write(json.dumps(status, indent=2) + "\n")
        return
    table = Table(title=f"mirrors of {node.agency}")
    for col in ("log", "agency", "verified", "fetched", "", "verified at", "flagged"):
        table.add_column(col, overflow="fold")
    for origin, m in status["mirrors"].items():
        st = states.get(origin)
        done, total = (st.next_index, st.pending_size) if st else (0, 0)
        table.add_row(
            origin,
            m["agency"],
            str(m["size"]),
            f"{done}/{total}",
            ProgressBar(total=max(total, 1), completed=done if total else 0, width=20),
            m["verified_at"] or "never",
            "FORK" if m["flagged"] else "",
        )
    out.print(table)
    if status["flagged"]:
        out.print(f"flagged for a proven fork: {', '.join(status['flagged'])}")
