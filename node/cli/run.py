"""``pel init``, ``serve``, ``check`` and ``quickstart``: create, check and run a node."""

from __future__ import annotations

import gc
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pel.node.agency_node import Node, init_node
from pel.node.cli.common import friendly, out, progress
from pel.node.demo.quickstart import quickstart as run_quickstart
from pel.node.server import listen, make_server

if TYPE_CHECKING:
    from pel.node.agency_node import Node


@friendly
def init(
    directory: Annotated[Path, typer.Argument(help="The node directory to create")],
    agency: Annotated[str, typer.Option(help="Agency id, e.g. MY-PERKESO")],
    origin: Annotated[str, typer.Option(help="Log origin, e.g. perkeso.gov.my/pel")],
    database: Annotated[
        str | None, typer.Option(help="Database URL (default: SQLite in DIR)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create a node: keys (0600), settings, database, and a write token (shown once)."""

    node, token = init_node(directory, agency=agency, origin=origin, database_url=database)
    info = {
        "origin": origin,
        "log_vkey": node.log_signer.vkey,
        "issuer_key": node.issuer_public_key.to_base64(),
        "witness_vkey": node.witness.signer.vkey,
        "token": token,
    }
    node.stop()
    if as_json:
        print(json.dumps(info))
        return
    out.print(f"[bold]Created node[/bold] {directory} for {agency}")
    out.print(f"log verifier key: {info['log_vkey']}", highlight=False)
    out.print(f"issuer key:       {info['issuer_key']}", highlight=False)
    out.print(f"write token:      {token}", highlight=False)
    out.print("[yellow]The write token is shown only now; the node keeps only its hash.[/yellow]")


def _check_log(node: Node, *, full: bool) -> None:
    """The node's start-up check of its stored log, with a progress bar."""
    with progress() as bar:
        task = bar.add_task("checking log", total=None)
        node.check(full=full, progress=lambda d, t: bar.update(task, completed=d, total=t))


@friendly
def serve(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
    quick_check: Annotated[
        bool,
        typer.Option(
            help="At start-up, check stored tiles against the checkpoint but do not rehash entries"
        ),
    ] = False,
) -> None:
    """Check the stored log, then serve it over HTTP."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sock = listen(host, port)
    node = Node.open(directory)
    _check_log(node, full=not quick_check)
    out.print(f"serving {node.settings.origin} on http://{host}:{port}  (API docs: /docs)")
    server = make_server(node, host=host, port=port, check=False)
    # What is loaded by now lives as long as the process: out of the collector's
    # sight, so the collections that every parsed batch triggers stay short.
    gc.freeze()
    server.run(sockets=[sock])


@friendly
def check(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    quick: Annotated[bool, typer.Option(help="Tiles against checkpoint only (no rehash)")] = False,
) -> None:
    """Check that the stored log reproduces its latest checkpoint (what serve does first)."""

    node = Node.open(directory)
    try:
        _check_log(node, full=not quick)
        out.print(f"ok: the stored log reproduces its checkpoint at size {node.log.tree_size()}")
    finally:
        node.stop()


@friendly
def quickstart(
    directory: Annotated[Path, typer.Argument(help="Node directory (created on first use)")] = Path(
        "var/node"
    ),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8080,
    records: Annotated[int, typer.Option(min=0, help="Synthetic records to submit")] = 20_000,
    agency: Annotated[str, typer.Option(help="Agency id of the node")] = "TH-SSO",
    exit_after: Annotated[bool, typer.Option(help="Exit after filling and verifying")] = False,
) -> None:
    """Run one agency's node on SQLite: create, fill with synthetic filings, verify, serve."""

    run_quickstart(directory, port=port, records=records, agency=agency, exit_after=exit_after)
