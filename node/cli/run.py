"""``pel init``, ``serve``, ``check`` and ``quickstart``: create, check and run a node."""

from __future__ import annotations

import gc
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pel.ledger.tlog.log import CheckReport
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


def _check_log(
    node: Node, *, full: bool, signatures: bool = False, repair: bool = False
) -> CheckReport:
    """The node's start-up check of its stored log, with a progress bar."""
    with progress() as bar:
        task = bar.add_task("checking log", total=None)
        return node.check(
            full=full,
            signatures=signatures,
            repair=repair,
            progress=lambda d, t: bar.update(task, completed=d, total=t),
        )


QUICK_CHECK_HELP = (
    "At start-up, check only the log state, the entries not yet under a checkpoint (as "
    "signed records), the stored tiles and the index root against the checkpoint, and "
    "the tables beside the log but the mirrors' entries. NOT checked: integrated and "
    "mirrored entries are not rehashed and their columns (record id, pwid, type) not "
    "compared with them, the index's nodes below its root are not read, and the "
    "database's index check does not run; tile-node file slots and index nodes are "
    "checked the first time they are used"
)


@friendly
def serve(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
    quick_check: Annotated[bool, typer.Option(help=QUICK_CHECK_HELP)] = False,
) -> None:
    """Check the stored log, then serve it over HTTP (SIGINT or SIGTERM stop it cleanly)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sock = listen(host, port)
    node = Node.open(directory)
    try:
        report = _check_log(node, full=not quick_check)
    except BaseException:
        node.stop()
        raise
    out.print(f"checked: {report.line()}", highlight=False)
    out.print(f"serving {node.settings.origin} on http://{host}:{port}  (API docs: /docs)")
    server = make_server(node, host=host, port=port, check=False)
    # What is loaded by now lives as long as the process: out of the collector's
    # sight, so the collections that every parsed batch triggers stay short.
    gc.freeze()
    server.run(sockets=[sock])


@friendly
def check(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    quick: Annotated[bool, typer.Option(help=QUICK_CHECK_HELP)] = False,
    signatures: Annotated[
        bool,
        typer.Option(
            help="Also verify every record's signature (integrated ones included) and every "
            "stored cosignature"
        ),
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            help="Write a damaged tile-node file again from the database and rebuild the "
            "index nodes from the entries (once checked); delete token rows, cosignatures "
            "and evidence that do not verify"
        ),
    ] = False,
) -> None:
    """Check that the stored log reproduces its latest checkpoint and that every stored
    fact agrees with the signed entries (what serve does first)."""

    node = Node.open(directory)
    try:
        report = _check_log(node, full=not quick, signatures=signatures, repair=repair)
        out.print(
            f"ok: the stored log reproduces its checkpoint at size {report.size}: {report.line()}",
            highlight=False,
        )
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
