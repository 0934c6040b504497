"""The ``pel`` command line: thin wrappers that call node/ and ledger/ and print.

Every command prints a ``PelError`` as one line (``error: … [code]``) on stderr and
exits 1; no traceback reaches a person.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from crypto.errors import PelError

app = typer.Typer(
    name="pel",
    help="Portable Entitlements Ledger: run an agency's node, submit and verify records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Turn project errors (and bad files) into one line on stderr and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PelError as exc:
            err.print(exc.diagnostics(), markup=False, highlight=False)
            raise typer.Exit(1) from None
        except OSError as exc:
            err.print(
                f"error: {exc.strerror or exc}: {exc.filename or ''} [io_error]",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None
        except UnicodeDecodeError as exc:
            err.print(
                f"error: the input is not UTF-8 text ({exc.reason} at byte {exc.start})"
                " [bad_encoding]",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None
        except Exception as exc:
            # Imported here: the CLI does not load SQLAlchemy for commands that need no database.
            from sqlalchemy.exc import SQLAlchemyError

            if not isinstance(exc, SQLAlchemyError):
                raise
            # The driver's first line only: the whole text may repeat the statement's values.
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            err.print(f"error: the database failed: {reason} [storage_error]", markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )


@app.command()
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
    from node.node import init_node

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


@app.command()
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
    import uvicorn

    from api.app import create_app
    from node.node import Node

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    node = Node.open(directory)
    with _progress() as bar:
        task = bar.add_task("checking log", total=None)
        node.check(
            full=not quick_check, progress=lambda d, t: bar.update(task, completed=d, total=t)
        )
    out.print(f"serving {node.settings.origin} on http://{host}:{port}  (API docs: /docs)")
    uvicorn.run(create_app(node, check=False), host=host, port=port, log_level="warning")


@app.command()
@friendly
def check(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    quick: Annotated[bool, typer.Option(help="Tiles against checkpoint only (no rehash)")] = False,
) -> None:
    """Check that the stored log reproduces its latest checkpoint (what serve does first)."""
    from node.node import Node

    node = Node.open(directory)
    try:
        with _progress() as bar:
            task = bar.add_task("checking log", total=None)
            node.check(full=not quick, progress=lambda d, t: bar.update(task, completed=d, total=t))
        out.print(f"ok: the stored log reproduces its checkpoint at size {node.log.tree_size()}")
    finally:
        node.stop()


@app.command()
@friendly
def synth(
    agency: Annotated[str, typer.Option(help="Agency id whose back office files the records")],
    records: Annotated[int, typer.Option(min=1, help="How many record drafts")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="JSONL file (default stdout)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
) -> None:
    """Write realistic synthetic record drafts (JSON Lines) for tests, demos and benchmarks."""
    from node.synth import synth_drafts

    sink = out_file.open("w", encoding="utf-8") if out_file else sys.stdout
    try:
        for draft in synth_drafts(agency, records, seed=seed):
            sink.write(json.dumps(draft, separators=(",", ":")) + "\n")
    finally:
        if out_file:
            sink.close()


@app.command()
@friendly
def submit(
    url: Annotated[str, typer.Argument(help="The node's base URL")],
    file: Annotated[Path, typer.Argument(help="JSON Lines or .csv filing")],
    token: Annotated[str, typer.Option(envvar="PEL_TOKEN", help="Write token")],
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Records per request")] = 1000,
    report: Annotated[Path | None, typer.Option(help="Write refused rows here (JSONL)")] = None,
) -> None:
    """Submit a filing in batches; refused rows are reported and never stop the good ones."""
    from node.client import LogClient
    from node.filing import read_filing
    from node.submit import submit_rows

    total = sum(1 for _ in read_filing(file))
    with LogClient(url, token=token) as client, _progress() as bar:
        task = bar.add_task("submitting", total=total)
        result = submit_rows(
            client, read_filing(file), batch_size=batch, progress=lambda n: bar.advance(task, n)
        )
    table = Table(title=f"{file.name} → {url}")
    table.add_column("appended", justify="right")
    table.add_column("already in the log", justify="right")
    table.add_column("refused", justify="right")
    table.add_row(str(result.appended), str(result.duplicates), str(len(result.refused)))
    out.print(table)
    out.print(
        f"{result.appended} appended, {result.duplicates} already in the log, "
        f"{len(result.refused)} refused"
    )
    for row in result.refused[:20]:
        err.print(
            f"line {row['line']}: {row['message']} [{row['code']}]", markup=False, highlight=False
        )
    if len(result.refused) > 20:
        err.print(f"… and {len(result.refused) - 20} more refused rows", markup=False)
    if report:
        report.write_text("".join(json.dumps(r) + "\n" for r in result.refused))
    if result.refused:
        raise typer.Exit(2)


@app.command()
@friendly
def verify(
    url: Annotated[str, typer.Argument(help="The node's base URL")],
    vkey: Annotated[str, typer.Option(help="The log's verifier key (name+keyid+key)")],
    issuer_key: Annotated[
        str | None,
        typer.Option(help="Also check every record's signature with this issuer key (base64)"),
    ] = None,
    samples: Annotated[int, typer.Option(min=0, help="Inclusion proofs to check")] = 100,
) -> None:
    """Fetch checkpoint, tiles and entries; recompute the tree; check sampled proofs."""
    from crypto.keys import PublicKey
    from crypto.note import parse_vkey
    from node.client import LogClient
    from node.verify import verify_log

    log_key = parse_vkey(vkey)
    key = PublicKey.from_base64(issuer_key) if issuer_key else None
    with LogClient(url) as client, _progress() as bar:
        task = bar.add_task("verifying", total=None)
        report = verify_log(
            client,
            log_key,
            issuer_key=key,
            samples=samples,
            progress=lambda d, t: bar.update(task, completed=d, total=t),
        )
    out.print(
        f"ok: {report.origin} at size {report.tree_size}: {report.entries} entries rehashed, "
        f"{report.tiles} tiles rebuilt, {report.proofs} inclusion proofs and "
        f"{report.signatures} record signatures checked",
        highlight=False,
    )


@app.command()
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
    from node.quickstart import quickstart as run

    run(directory, port=port, records=records, agency=agency, exit_after=exit_after)


@app.command()
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
    ] = 60.0,
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
    from node.demo import DemoOptions, run_demo

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
            from node.demo_view import print_summary

            print_summary(out, result)

    code = run_demo(opts, lambda line: talk.print(line, highlight=False, markup=False), show)
    if code:
        raise typer.Exit(code)


federation = typer.Typer(
    help="The federation's trust list: create, propose, sign, apply and show versions.",
    no_args_is_help=True,
)
app.add_typer(federation, name="federation")


def _member_of(directory: Path, country: str | None, name: str, role: str, url: str) -> Any:
    from ledger.federation import Member
    from node.node import Node

    node = Node.open(directory)
    try:
        return Member(
            agency=node.agency,
            country=country or node.agency[:2],
            name=name,
            role=role,
            origin=node.settings.origin,
            url=url,
            log_key=node.log_signer.vkey,
            issuer_key=node.issuer_public_key.to_base64(),
            witness_key=node.witness.signer.vkey,
        )
    finally:
        node.stop()


def _read_signed(path: Path) -> Any:
    from ledger.federation import SignedTrustList

    return SignedTrustList.from_json(path.read_text())


@federation.command("member")
@friendly
def federation_member(
    directory: Annotated[Path, typer.Argument(help="A node directory")],
    url: Annotated[str, typer.Option(help="The node's public base URL")],
    name: Annotated[str, typer.Option(help="The agency's name")],
    role: Annotated[str, typer.Option(help="sending, receiving or both")] = "both",
    country: Annotated[str | None, typer.Option(help="ISO 3166 code (default: the id's)")] = None,
) -> None:
    """Print the node's member entry (its public keys) as JSON, for a proposal."""
    member = _member_of(directory, country, name, role, url)
    out.print_json(json.dumps(member.model_dump()))


def _read_member(path: Path) -> Any:
    """A member entry file (``pel federation member``'s output), checked."""
    from pydantic import ValidationError

    from ledger.errors import TrustListError
    from ledger.federation import Member

    try:
        return Member.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TrustListError(
            f"{path} is not a member entry: {where + ': ' if where else ''}{first['msg']}"
        ) from None


@federation.command("init")
@friendly
def federation_init(
    file: Annotated[Path, typer.Argument(help="Where to write the unsigned version 1")],
    name: Annotated[str, typer.Option(help="The federation's name")],
    member: Annotated[list[Path], typer.Option(help="A member entry (JSON), repeatable")],
    quorum: Annotated[int, typer.Option(help="Witness cosignatures a checkpoint needs")] = 1,
    threshold: Annotated[
        int | None, typer.Option(help="Signatures a new version needs (default: all)")
    ] = None,
) -> None:
    """Write version 1 of a trust list, unsigned: every member then signs it."""
    from ledger.federation import SignedTrustList, TrustList

    members = tuple(_read_member(p) for p in member)
    tl = TrustList(
        federation=name,
        version=1,
        members=members,
        witness_quorum=quorum,
        threshold=threshold or len(members),
    )
    tl.check()
    file.write_text(SignedTrustList(tl).to_json())
    out.print(f"wrote {file}: version 1, {len(members)} members, digest {tl.digest()}")


@federation.command("propose")
@friendly
def federation_propose(
    directory: Annotated[Path, typer.Argument(help="A node directory holding the current list")],
    file: Annotated[Path, typer.Argument(help="Where to write the unsigned next version")],
    add: Annotated[list[Path] | None, typer.Option(help="Add or replace a member (JSON)")] = None,
    remove: Annotated[list[str] | None, typer.Option(help="Remove a member (agency id)")] = None,
    quorum: Annotated[int | None, typer.Option(help="New witness quorum")] = None,
    threshold: Annotated[int | None, typer.Option(help="New signing threshold")] = None,
) -> None:
    """Write the next version of the node's trust list with the given changes."""
    from ledger.errors import TrustListError
    from ledger.federation import SignedTrustList, new_version
    from node.config import load_settings
    from node.federation import load_trust_list

    current = load_trust_list(directory, load_settings(directory))
    if current is None:
        raise TrustListError("the node has no trust list yet: apply a version 1 first")
    members = {m.agency: m for m in current.members}
    for agency in remove or []:
        if members.pop(agency, None) is None:
            raise TrustListError(f"{agency} is not a member")
    for path in add or []:
        m = _read_member(path)
        members[m.agency] = m
    changed = set(members) != {m.agency for m in current.members} or bool(add)
    tl = new_version(
        current,
        members=list(members.values()) if changed else None,
        witness_quorum=quorum,
        threshold=threshold,
    )
    file.write_text(SignedTrustList(tl).to_json())
    out.print(
        f"wrote {file}: version {tl.version}, {len(tl.members)} members, "
        f"threshold {tl.threshold}, quorum {tl.witness_quorum}"
    )


@federation.command("sign")
@friendly
def federation_sign(
    file: Annotated[Path, typer.Argument(help="A trust-list version (signed in place)")],
    directory: Annotated[Path | None, typer.Option(help="Sign with this node's issuer key")] = None,
    key: Annotated[Path | None, typer.Option(help="Or with this PEM key (a new key)")] = None,
    agency: Annotated[str | None, typer.Option(help="The agency signing with --key")] = None,
) -> None:
    """Add a member's signature to a trust-list version."""
    from node.errors import ConfigError
    from node.keys import read_private_key

    if directory is not None:
        from node.config import KEY_FILES, load_settings

        signer_agency = load_settings(directory).agency
        signing_key = read_private_key(directory / KEY_FILES["issuer"])
    elif key is not None and agency is not None:
        signer_agency, signing_key = agency, read_private_key(key)
    else:
        raise ConfigError("give --directory, or --key with --agency")
    signed = _read_signed(file).sign(signer_agency, signing_key)
    file.write_text(signed.to_json())
    out.print(
        f"{signer_agency} signed version {signed.trust_list.version} "
        f"({len(signed.signatures)} signatures)"
    )


@federation.command("apply")
@friendly
def federation_apply(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    file: Annotated[Path, typer.Argument(help="A signed trust-list version")],
) -> None:
    """Verify a version against the node's current one and adopt it (version 1: pin it)."""
    from node.federation import apply_version

    tl = apply_version(directory, _read_signed(file))
    out.print(f"applied version {tl.version} of {tl.federation}: {len(tl.members)} members")


@federation.command("show")
@friendly
def federation_show(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    policy: Annotated[
        str | None, typer.Option(help="Print the C2SP tlog-policy for this origin")
    ] = None,
) -> None:
    """Show the node's current trust list (or one log's tlog-policy)."""
    from ledger.errors import TrustListError
    from node.config import load_settings
    from node.federation import load_trust_list

    tl = load_trust_list(directory, load_settings(directory))
    if tl is None:
        raise TrustListError("the node has no trust list")
    if policy:
        sys.stdout.write(tl.policy(policy))
        return
    table = Table(title=f"{tl.federation} — version {tl.version} ({tl.digest()[:16]}…)")
    for col in ("agency", "country", "role", "origin", "url"):
        table.add_column(col)
    for m in tl.members:
        table.add_row(m.agency, m.country, m.role, m.origin, m.url)
    out.print(table)
    out.print(
        f"witness quorum {tl.witness_quorum}; signing threshold {tl.threshold} of {len(tl.members)}"
    )


evidence = typer.Typer(
    help="Fork evidence: list what this node's witness and mirrors found; verify.",
    no_args_is_help=True,
)
app.add_typer(evidence, name="evidence")


@evidence.command("export")
@friendly
def evidence_export(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write one JSON file per case")],
) -> None:
    """Write the evidence this node's witness and mirrors recorded (proven forks and failed
    proofs)."""
    from node.node import Node

    node = Node.open(directory)
    try:
        found = node.witness.evidence()
    finally:
        node.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, (proven, ev) in enumerate(found, 1):
        kind = "fork" if proven else "unproven"
        path = out_dir / f"{i:04d}-{kind}-{ev.origin.replace('/', '_')}.json"
        path.write_text(ev.to_json())
        out.print(f"{path}: {ev.origin} ({kind})")
    if not found:
        out.print("no evidence recorded")


@evidence.command("verify")
@friendly
def evidence_verify(
    file: Annotated[Path, typer.Argument(help="A fork evidence file")],
    trust: Annotated[Path, typer.Option(help="A signed trust-list version (JSON)")],
) -> None:
    """Check fork evidence offline with the trust list alone; exit 0 only if it proves a fork."""
    from ledger.errors import EvidenceError
    from ledger.evidence import ForkEvidence, verify_fork

    ev = ForkEvidence.from_json(file.read_bytes())
    tl = _read_signed(trust).trust_list
    member = tl.member_for_origin(ev.origin)
    if member is None:
        raise EvidenceError(f"no member of {tl.federation} has the log {ev.origin!r}")
    how = verify_fork(ev, member.log_verifier)
    out.print(f"fork proven: {member.agency}'s log {ev.origin}: {how}")


mirror = typer.Typer(
    help="Mirrors: this node's verified copies of the other logs.", no_args_is_help=True
)
app.add_typer(mirror, name="mirror")


@mirror.command("status")
@friendly
def mirror_status(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
) -> None:
    """How far this node's copy of each member's log is verified, and the logs flagged."""
    from rich.progress_bar import ProgressBar

    from node.node import Node

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


@app.command()
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
) -> None:
    """Audit a log: every entry, tile, signature, checkpoint, cosignature and mirror."""
    from crypto.keys import PublicKey
    from crypto.note import parse_vkey
    from node.audit import AuditTrust, audit_log
    from node.errors import AuditFailed, ConfigError

    if trust is not None:
        keys: Any = _read_signed(trust).trust_list
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

        try:
            result = audit_log(
                url, state, keys, mirrors=mirror or (), report_file=report, progress=progress
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
    witnessed = f", {len(cos['verified'])}/{cos['quorum']} witness cosignatures" if cos else ""
    out.print(
        f"ok: {result.origin} audited from size {result.size_from} to {result.size_to}: "
        f"{result.tree.entries} entries rehashed, {result.tree.tiles} tiles compared, "
        f"{result.tree.signatures} signatures verified, {len(result.checkpoints)} "
        f"checkpoint checks{witnessed}, {len(result.mirrors)} mirrors compared",
        highlight=False,
    )
    for path in result.files:
        out.print(f"report: {path}", highlight=False)


# ---- worker proof bundles ------------------------------------------------------------


def _trust_chain(paths: list[Path]) -> list[Any]:
    """The trust-list versions given (one, or a chain checked link by link)."""
    from ledger.federation import verify_next

    versions = [_read_signed(p) for p in paths]
    if len(versions) == 1:
        return [versions[0].trust_list]
    chain, previous = [], None
    for signed in versions:
        previous = verify_next(signed, previous)
        chain.append(previous)
    return chain


def _request_signer(
    token: str | None, key: Path | None, agency: str | None, holder_key: Path | None
) -> Callable[[str], str]:
    import time

    from crypto.request import sign_request
    from node.errors import ConfigError
    from node.keys import read_private_key

    if token:
        return lambda _path: f"Bearer {token}"
    if key is not None and agency:
        signing = read_private_key(key)
        return lambda path: sign_request(signing, "GET", path, int(time.time()), agency=agency)
    if holder_key is not None:
        holder = read_private_key(holder_key)
        return lambda path: sign_request(holder, "GET", path, int(time.time()))
    raise ConfigError("give --token, --key with --agency, or --holder-key")


@app.command("bundle")
@friendly
def bundle_cmd(
    pwid: Annotated[str, typer.Argument(help="The worker's PWID")],
    trust: Annotated[Path, typer.Option(help="The current signed trust list (JSON)")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the bundle")],
    url: Annotated[
        list[str] | None, typer.Option(help="Node URLs to ask (default: every member's)")
    ] = None,
    token: Annotated[str | None, typer.Option(help="A node's write token (Bearer)")] = None,
    key: Annotated[Path | None, typer.Option(help="The agency's issuer key (PEM)")] = None,
    agency: Annotated[str | None, typer.Option(help="The agency signing with --key")] = None,
    holder_key: Annotated[Path | None, typer.Option(help="The worker's holder key (PEM)")] = None,
    qr: Annotated[Path | None, typer.Option(help="Also write a QR code (PNG)")] = None,
    ref_url: Annotated[
        str | None, typer.Option(help="Where the bundle will be kept, for a reference QR")
    ] = None,
) -> None:
    """Ask every member's node for its part of a worker's bundle, merge, write it."""
    from node.bundle import assemble, write_qr

    trust_list = _read_signed(trust).trust_list
    signer = _request_signer(token, key, agency, holder_key)
    got = assemble(pwid, trust_list, urls=url, sign=signer)
    data = got.bundle.to_bytes()
    out_file.write_bytes(data)
    out.print(
        f"wrote {out_file}: {len(got.bundle.records)} records, {len(data)} bytes, "
        f"sha256 {got.bundle.digest()}",
        highlight=False,
    )
    for node_url, ids in got.pending.items():
        out.print(f"pending at {node_url} (not yet witnessed): {len(ids)} record(s)")
    if qr is not None:
        kind = write_qr(got.bundle, qr, ref_url=ref_url)
        out.print(f"wrote {qr}: QR code of the {'bundle' if kind == 'embedded' else 'reference'}")
    for node_url, why in got.failed.items():
        err.print(f"warning: {node_url}: {why}", markup=False, highlight=False)
    if got.failed:
        raise typer.Exit(2)


def _print_summary(report: Any) -> None:
    from ledger.bundle import summarise

    s = summarise(report)
    out.print(
        f"[bold green]verified[/bold green]: bundle of {s.subject} "
        f"({len(report.records)} records, trust list version {report.trust_version}, "
        f"sha256 {report.digest})",
        highlight=False,
    )
    if s.enrolment:
        out.print(
            f"home state {s.home_country}: enrolled on {s.enrolment['enrolled_on']} "
            f"by {s.enrolment['issuer']}",
            highlight=False,
        )
    else:
        out.print(f"home state {s.home_country} (no enrolment in the bundle)", highlight=False)
    for country, st in s.states.items():
        if not (st.months_by_branch or st.entitlements or st.earnings):
            continue
        table = Table(title=f"{country} ({', '.join(sorted(st.agencies))})", title_justify="left")
        table.add_column("what")
        table.add_column("value", justify="right")
        for branch, months in st.months_by_branch.items():
            table.add_row(f"months of contributions: {branch}", str(months))
        for cur, total in sorted(st.earnings.items()):
            table.add_row(f"insured earnings ({cur})", f"{total:.2f}")
        for cur, total in sorted(st.contributions.items()):
            table.add_row(f"contributions paid ({cur})", f"{total:.2f}")
        for e in st.entitlements:
            state = e["status"] if e["record_status"] != "revoked" else "revoked (does not count)"
            table.add_row(
                f"entitlement {e['benefit']} ({e['frequency']}, from {e['start_date']})",
                f"{e['amount']} {e['currency']}: {state}",
            )
        if st.amended or st.revoked:
            table.add_row("records amended / revoked", f"{st.amended} / {st.revoked}")
        out.print(table)
    for line in s.corrections:
        out.print(f"correction applied: {line}", highlight=False)


@app.command("verify-bundle")
@friendly
def verify_bundle_cmd(
    file: Annotated[str, typer.Argument(help="A bundle, or decoded QR text; - for stdin")],
    trust: Annotated[
        list[Path], typer.Option(help="The signed trust list (repeat for a chain, oldest first)")
    ],
    bundle_file: Annotated[
        Path | None, typer.Option("--bundle", help="The bundle a QR reference names")
    ] = None,
) -> None:
    """Verify a worker's bundle offline with the trust list alone and summarise it."""
    from ledger.bundle import BundleError, verify_bundle
    from ledger.bundle_qr import BundleRef, is_qr_text, read_qr_text

    data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    if is_qr_text(data):
        try:
            text = data.decode("ascii").strip()
        except UnicodeDecodeError:
            raise BundleError("bad_format", "QR text is not ASCII") from None
        content = read_qr_text(text)
        if isinstance(content, BundleRef):
            if bundle_file is None:
                where = f" (kept at {content.url})" if content.url else ""
                raise BundleError(
                    "bundle_needed",
                    f"the QR code refers to a bundle{where}: give that file with --bundle",
                )
            data = bundle_file.read_bytes()
            content.check(data)
        else:
            data = content
    report = verify_bundle(data, _trust_chain(trust))
    _print_summary(report)


web = typer.Typer(help="The node's web pages: write the standalone verifier.", no_args_is_help=True)
app.add_typer(web, name="web")


@web.command("verifier")
@friendly
def web_verifier(
    trust: Annotated[Path, typer.Option(help="A signed trust-list version (JSON)")],
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write")],
) -> None:
    """Write the bundle verifier as one HTML file that works offline, with TRUST embedded."""
    from node.pages import write_verifier

    signed = write_verifier(trust, out_file)
    tl = signed.trust_list
    message = f"{out_file}: verifier for {tl.federation} trust list version {tl.version}"
    out.print(message, markup=False)


def main() -> None:  # pragma: no cover - console-script shim
    app()


if __name__ == "__main__":  # pragma: no cover - ``python -m node.cli``
    main()
