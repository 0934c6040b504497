"""``pel keys …``: rotate a node's keys through the trust list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pel.node.cli.common import friendly, out
from pel.node.config import load_settings
from pel.node.trust.rotation import rotate_key

app = typer.Typer(help="A node's keys: rotate them through the trust list.", no_args_is_help=True)


@app.command("rotate")
@friendly
def keys_rotate(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    role: Annotated[str, typer.Option(help="issuer, log or witness")],
    overlap: Annotated[
        int, typer.Option(help="Seconds the old key stays valid while the new version is signed")
    ] = 3600,
    member_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the member entry to this file")
    ] = None,
) -> None:
    """Make the new key (keys/<role>.next.pem, 0600) and print the member entry for the
    next trust-list version; once a version listing it is applied, the node uses it."""

    member = rotate_key(directory, load_settings(directory), role, overlap=overlap)
    text = json.dumps(member.model_dump(mode="json"))
    if member_file is not None:
        member_file.write_text(text + "\n")
    out.print_json(text)
