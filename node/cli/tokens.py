"""``pel token create|list|revoke``: the bearer tokens a node issues (only hashes stored)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pel.node.access.tokens import ROLES, create_token, list_tokens, revoke_token
from pel.node.agency_node import Node
from pel.node.cli.common import friendly, out

app = typer.Typer(
    help="Tokens: staff (writer, reader, admin) and auditors; only their hashes are kept.",
    no_args_is_help=True,
)


@app.command("create")
@friendly
def create(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")],
    label: Annotated[str, typer.Option(help="Whom it is for (no person's name)")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Issue a token (shown once; the node keeps only its SHA-256)."""
    node = Node.open(directory)
    try:
        token = create_token(node.tokens, node.agency, label, role=role)
    finally:
        node.stop()
    if as_json:
        print(json.dumps({"role": role, "label": label, "token": token}))
        return
    out.print(f"{role} token: {token}", highlight=False)
    out.print("[yellow]Shown only now; send it only to this node, in a header.[/yellow]")


@app.command("list")
@friendly
def list_(directory: Annotated[Path, typer.Argument(help="The node directory")]) -> None:
    """The tokens this node issued (ids, roles, labels; never the tokens)."""
    node = Node.open(directory)
    try:
        tokens = list_tokens(node.tokens)
    finally:
        node.stop()
    table = Table(title=f"tokens of {node.agency}")
    for col in ("id", "role", "label", "created", "revoked"):
        table.add_column(col)
    for t in tokens:
        revoked = t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else ""
        table.add_row(t.id, t.role, t.label, t.created_at.isoformat(timespec="seconds"), revoked)
    out.print(table)


@app.command("revoke")
@friendly
def revoke(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    token_id: Annotated[str, typer.Argument(help="The token's id (pel token list)")],
) -> None:
    """Revoke a token: the node refuses it from now on."""
    node = Node.open(directory)
    try:
        info = revoke_token(node.tokens, token_id)
    finally:
        node.stop()
    out.print(f"revoked {info.role} token {info.id} ({info.label})", highlight=False)
