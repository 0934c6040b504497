"""``pel worker keygen``: the holder key a worker keeps to read their own records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pel.node.access.holder_keys import write_holder_key
from pel.node.cli.common import friendly, out

app = typer.Typer(help="A worker's own tools.", no_args_is_help=True)


@app.command("keygen")
@friendly
def keygen(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the key file (0600)")],
    pwid: Annotated[str | None, typer.Option(help="The worker's PWID, if already issued")] = None,
) -> None:
    """Make a holder key; print its public half for the enrolment record (holder_key)."""
    held = write_holder_key(out_file, pwid)
    out.print(f"wrote {out_file} (keep it; it reads your records)", highlight=False)
    out.print(f"holder_key: {held.key.public_key.to_base64()}", highlight=False)
