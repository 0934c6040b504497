"""``pel bundle`` and ``pel verify-bundle``: assemble a worker's proof bundle, verify it offline."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pel.crypto.request import sign_request
from pel.ledger.bundles.bundle import summarise, verify_bundle
from pel.ledger.bundles.qr import bundle_from
from pel.ledger.federation.trust_list import TrustList, verify_next
from pel.node.access.holder_keys import read_holder_key
from pel.node.cli.common import err, friendly, out
from pel.node.cli.trust_file import read_signed
from pel.node.errors import ConfigError
from pel.node.trust.secret_files import read_private_key
from pel.node.workers.bundles import assemble, write_qr


def _trust_chain(paths: list[Path]) -> list[Any]:
    """The trust-list versions given (one, or a chain checked link by link)."""

    versions = [read_signed(p) for p in paths]
    if len(versions) == 1:
        return [versions[0].trust_list]
    chain, previous = [], None
    for signed in versions:
        previous = verify_next(signed, previous)
        chain.append(previous)
    return chain


def _request_signer(
    trust_list: TrustList,
    urls: list[str] | None,
    token: str | None,
    key: Path | None,
    agency: str | None,
    holder_key: Path | None,
) -> Callable[[str, str | None, str], str | None]:
    """The ``Authorization`` for each node (``sign(url, audience, target)``, as
    ``assemble`` asks), or None for a node the credentials given are not meant for: a
    token goes only to the node that issued it (``--agency``'s node in the trust list,
    or the one ``--url``); the other members' nodes get a request signed with ``--key``
    as ``--agency``, or are not asked. A signed request is made for one member's node
    (its audience), so a URL the trust list does not name gets none."""
    if holder_key is not None:
        holder = read_holder_key(holder_key).key

        def worker_request(_url: str, audience: str | None, target: str) -> str | None:
            if audience is None:
                return None
            return sign_request(holder, "GET", target, int(time.time()), audience=audience)

        return worker_request
    signing = read_private_key(key) if key is not None and agency else None
    if key is not None and not agency:
        raise ConfigError("--key signs as a member agency: give --agency too")

    def member_request(_url: str, audience: str | None, target: str) -> str | None:
        if signing is None or audience is None:
            return None
        now = int(time.time())
        return sign_request(signing, "GET", target, now, audience=audience, agency=agency)

    if not token:
        if signing is None:
            raise ConfigError("give --token, --key with --agency, or --holder-key")
        return member_request
    if agency:
        member = trust_list.member(agency)
        if member is None:
            raise ConfigError(f"{agency} is not a member of {trust_list.federation}")
        home = member.url
    elif urls and len(urls) == 1:
        home = urls[0]
    else:
        raise ConfigError(
            "a token is sent only to the node that issued it: name that node with --agency "
            "(or give it as the only --url)"
        )
    home = home.rstrip("/")

    def token_or_member(url: str, audience: str | None, target: str) -> str | None:
        if url.rstrip("/") == home:
            return f"Bearer {token}"
        return member_request(url, audience, target)

    return token_or_member


@friendly
def bundle_cmd(
    pwid: Annotated[str, typer.Argument(help="The worker's PWID")],
    trust: Annotated[Path, typer.Option(help="The current signed trust list (JSON)")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the bundle")],
    url: Annotated[
        list[str] | None, typer.Option(help="Node URLs to ask (default: every member's)")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="PEL_TOKEN",
            help="A token of --agency's node (or of the only --url): sent there only",
        ),
    ] = None,
    key: Annotated[Path | None, typer.Option(help="The agency's issuer key (PEM)")] = None,
    agency: Annotated[str | None, typer.Option(help="The agency signing with --key")] = None,
    holder_key: Annotated[
        Path | None, typer.Option(help="The worker's holder key file (pel worker keygen)")
    ] = None,
    qr: Annotated[Path | None, typer.Option(help="Also write a QR code (PNG)")] = None,
    ref_url: Annotated[
        str | None, typer.Option(help="Where the bundle will be kept, for a reference QR")
    ] = None,
) -> None:
    """Ask every member's node for its part of a worker's bundle, merge, write it."""

    trust_list = read_signed(trust).trust_list
    signer = _request_signer(trust_list, url, token, key, agency, holder_key)
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
    for node_url, origins in got.left_out.items():
        left = ", ".join(origins)
        err.print(f"warning: {node_url} left out {left}: flagged for a fork", markup=False)
    listed = {m.url.rstrip("/") for m in trust_list.members}
    for node_url in got.skipped:
        why = (
            "no credential for it (--key with --agency signs requests to other members' nodes)"
            if node_url.rstrip("/") in listed
            else "the trust list names no member at this URL, and a signed request is made "
            "for one member's node"
        )
        err.print(f"note: {node_url} not asked: {why}", markup=False, highlight=False)
    for node_url, why in got.failed.items():
        err.print(f"warning: {node_url}: {why}", markup=False, highlight=False)
    if got.failed:
        raise typer.Exit(2)


def _print_summary(report: Any) -> None:

    s = summarise(report)
    out.print(
        f"[bold green]verified[/bold green]: bundle of {s.pwid} "
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
    for c in report.complete:
        out.print(
            f"complete in log {c.origin} ({c.agency}) up to size {c.size}: "
            f"{len(c.indexes)} record(s) of this worker",
            highlight=False,
        )
    for origin in report.unproven:
        out.print(
            f"not proven complete in log {origin}: the bundle carries no index proof for it",
            highlight=False,
        )


@friendly
def verify_bundle_cmd(
    file: Annotated[str, typer.Argument(help="A bundle, or decoded QR text; - for stdin")],
    trust: Annotated[
        list[Path], typer.Option(help="The signed trust list (repeat for a chain, oldest first)")
    ],
    bundle_file: Annotated[
        Path | None, typer.Option("--bundle", help="The bundle a QR reference names")
    ] = None,
    require_complete: Annotated[
        bool,
        typer.Option(
            "--require-complete",
            help="Refuse the bundle unless it proves it holds all of the worker's records "
            "in every log of the trust list",
        ),
    ] = False,
) -> None:
    """Verify a worker's bundle offline with the trust list alone and summarise it."""

    data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    data = bundle_from(data, bundle_file.read_bytes if bundle_file is not None else None)
    report = verify_bundle(data, _trust_chain(trust), require_complete=require_complete)
    _print_summary(report)
