"""``pel web verifier``: write the standalone offline bundle verifier page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pel.node.cli.common import friendly, out
from pel.node.web_pages import write_verifier

app = typer.Typer(help="The node's web pages: write the standalone verifier.", no_args_is_help=True)


@app.command("verifier")
@friendly
def web_verifier(
    trust: Annotated[Path, typer.Option(help="A signed trust-list version (JSON)")],
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write")],
) -> None:
    """Write the bundle verifier as one HTML file that works offline, with TRUST embedded."""

    signed = write_verifier(trust, out_file)
    tl = signed.trust_list
    message = f"{out_file}: verifier for {tl.federation} trust list version {tl.version}"
    out.print(message, markup=False)
