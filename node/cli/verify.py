"""``pel verify`` and ``pel audit``: check a served log from the outside."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pel.crypto.keys import PublicKey
from pel.crypto.note import parse_vkey
from pel.node import metrics
from pel.node.cli.common import err, friendly, out, progress
from pel.node.cli.trust_file import read_signed
from pel.node.errors import AuditFailed, ConfigError
from pel.node.peers.client import LogClient, RemoteError
from pel.node.peers.remote_audit import AuditTrust, audit_log, entries_refused
from pel.node.peers.remote_verify import verify_log


def serve_metrics(port: int) -> Any:
    """Prometheus metrics of this process on 127.0.0.1:``port`` while it runs (a daemon
    thread); returns the server, whose ``shutdown()`` stops it sooner."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr="127.0.0.1")
        return server
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on 127.0.0.1:{port}: {exc.strerror or exc}", code="port_in_use"
        ) from None


def cosignature_summary(cosignatures: dict[str, Any]) -> str:
    """The audit's witness line: how many cosignatures verified, beside the quorum they
    had to reach ("9 witness cosignatures verified (quorum 5 met)"), never as a fraction."""
    count, quorum = len(cosignatures["verified"]), cosignatures["quorum"]
    noun = "cosignature" if count == 1 else "cosignatures"
    met = "met" if count >= quorum else "NOT met"
    return f"{count} witness {noun} verified (quorum {quorum} {met})"


@friendly
def verify(
    url: Annotated[str, typer.Argument(help="The node's base URL")],
    vkey: Annotated[str, typer.Option(help="The log's verifier key (name+keyid+key)")],
    issuer_key: Annotated[
        str | None,
        typer.Option(help="Also check every record's signature with this issuer key (base64)"),
    ] = None,
    samples: Annotated[int, typer.Option(min=0, help="Inclusion proofs to check")] = 100,
    trust: Annotated[
        Path | None,
        typer.Option(help="A signed trust list: check agreements with every party's key"),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="PEL_TOKEN", help="An auditor token issued by this node (entries need one)"
        ),
    ] = None,
) -> None:
    """Fetch checkpoint, tiles and entries; recompute the tree; check sampled proofs."""

    log_key = parse_vkey(vkey)
    key = PublicKey.from_base64(issuer_key) if issuer_key else None
    parties = None
    if trust is not None:
        members = read_signed(trust).trust_list.members
        parties = tuple((m.agency, m.issuer_public_key.raw) for m in members)
    with LogClient(url, token=token) as client, progress() as bar:
        task = bar.add_task("verifying", total=None)
        try:
            report = verify_log(
                client,
                log_key,
                issuer_key=key,
                party_keys=parties,
                samples=samples,
                progress=lambda d, t: bar.update(task, completed=d, total=t),
            )
        except RemoteError as exc:
            if exc.status not in (401, 403):
                raise
            raise entries_refused(url, exc, token) from None
    out.print(
        f"ok: {report.origin} at size {report.tree_size}: {report.entries} entries rehashed, "
        f"{report.tiles} tiles rebuilt, {report.proofs} inclusion proofs and "
        f"{report.signatures} record signatures checked",
        highlight=False,
    )


@friendly
def audit(
    url: Annotated[
        str, typer.Argument(help="The log's base URL (node, or <node>/mirror/<origin>)")
    ],
    state: Annotated[Path, typer.Option(help="State directory: kept between audits of this log")],
    trust: Annotated[
        Path | None, typer.Option(help="A signed trust-list version (JSON): keys, witnesses")
    ] = None,
    vkey: Annotated[
        str | None, typer.Option(help="The log's verifier key, without --trust")
    ] = None,
    issuer_key: Annotated[
        str | None, typer.Option(help="The issuer's public key (base64), with --vkey")
    ] = None,
    mirror: Annotated[
        list[str] | None, typer.Option(help="A mirror's base URL to compare with (repeatable)")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Also write the JSON report here")] = None,
    full: Annotated[
        bool,
        typer.Option(
            help="Rehash every entry from size 0 even when the state holds an earlier audit"
        ),
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="PEL_TOKEN",
            help="An auditor token issued by the node serving URL (sent there only)",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Serve the audit's progress as Prometheus metrics on 127.0.0.1"
        ),
    ] = None,
) -> None:
    """Audit a log: every entry, tile, signature, checkpoint, cosignature and mirror
    (resumed: only what was added since the last audit, unless --full)."""

    if trust is not None:
        keys: Any = read_signed(trust).trust_list
    elif vkey and issuer_key:
        keys = AuditTrust(parse_vkey(vkey), PublicKey.from_base64(issuer_key), None)
    else:
        raise ConfigError("give --trust TRUST.json, or --vkey and --issuer-key")
    columns = (
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("entries"),
        TextColumn("{task.fields[mib]:.1f} MiB"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task("checkpoint", total=None, mib=0.0)

        def progress(phase: str, done: int, total: int | None, downloaded: int) -> None:
            bar.update(task, description=phase, completed=done, total=total, mib=downloaded / 2**20)
            metrics.record_audit_progress(phase, done, total, downloaded)

        if metrics_port is not None:
            serve_metrics(metrics_port)

        try:
            result = audit_log(
                url,
                state,
                keys,
                mirrors=mirror or (),
                report_file=report,
                progress=progress,
                full=full,
                token=token,
            )
        except AuditFailed as exc:
            bar.stop()
            err.print(exc.diagnostics(), markup=False, highlight=False)
            for f in exc.report.failures:
                err.print(f"evidence: {f.file} [{f.code}]", markup=False, highlight=False)
            for path in exc.report.files:
                err.print(f"report: {path}", markup=False, highlight=False)
            raise typer.Exit(1) from None
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    cos = result.cosignatures
    witnessed = f", {cosignature_summary(cos)}" if cos else ""
    out.print(
        f"ok: {result.origin} audited from size {result.size_from} to {result.size_to}: "
        f"{result.tree.entries} entries rehashed (from size {result.rehashed_from}), "
        f"{result.tree.tiles} tiles compared, "
        f"{result.tree.signatures} signatures verified, {len(result.checkpoints)} "
        f"checkpoint checks{witnessed}, {len(result.mirrors)} mirrors compared"
        + (
            f", {result.entitlements} entitlement decisions recomputed"
            if result.entitlements
            else ""
        ),
        highlight=False,
    )
    for path in result.files:
        out.print(f"report: {path}", highlight=False)
