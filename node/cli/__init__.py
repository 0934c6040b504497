"""The ``pel`` command line: thin wrappers that call node/ and ledger/ and print.

Every command prints a ``PelError`` as one line (``error: … [code]``) on stderr and
exits 1; no traceback reaches a person. Each module here holds one group of commands;
this one builds ``app`` and registers them, in the order ``pel --help`` lists them.
"""

from __future__ import annotations

import typer

from pel.node.cli import (
    agreement,
    bundle,
    demo,
    entitle,
    evidence,
    federation,
    filings,
    keys,
    mirror,
    rules,
    run,
    tokens,
    verify,
    web,
    worker,
)

app = typer.Typer(
    name="pel",
    help="Portable Entitlements Ledger: run an agency's node, submit and verify records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.command()(run.init)
app.command()(run.serve)
app.command()(run.check)
app.command()(filings.synth)
app.command()(filings.submit)
app.command()(verify.verify)
app.command()(run.quickstart)
app.command()(demo.demo)
app.command()(verify.audit)
app.command("bundle")(bundle.bundle_cmd)
app.command("verify-bundle")(bundle.verify_bundle_cmd)
app.command()(entitle.entitle)
app.add_typer(federation.app, name="federation")
app.add_typer(keys.app, name="keys")
app.add_typer(evidence.app, name="evidence")
app.add_typer(mirror.app, name="mirror")
app.add_typer(web.app, name="web")
app.add_typer(rules.app, name="rules")
app.add_typer(agreement.app, name="agreement")
app.add_typer(tokens.app, name="token")
app.add_typer(worker.app, name="worker")


def main() -> None:  # pragma: no cover - console-script shim
    app()


__all__ = ["app", "main"]
