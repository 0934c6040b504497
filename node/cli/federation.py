"""``pel federation …``: create, propose, sign, apply and show trust-list versions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from pel.ledger.errors import TrustListError
from pel.ledger.federation.quorum import POLICIES
from pel.ledger.federation.trust_list import Member, SignedTrustList, TrustList, propose_version
from pel.node.agency_node import Node
from pel.node.cli.common import friendly, out
from pel.node.cli.trust_file import read_signed
from pel.node.config import KEY_FILES, load_settings
from pel.node.errors import ConfigError
from pel.node.trust.chain import apply_version, load_trust_list, member_entry
from pel.node.trust.rotation import install_rotated_keys
from pel.node.trust.secret_files import read_private_key

app = typer.Typer(
    help="The federation's trust list: create, propose, sign, apply and show versions.",
    no_args_is_help=True,
)


@app.command("member")
@friendly
def federation_member(
    directory: Annotated[Path, typer.Argument(help="A node directory")],
    url: Annotated[str, typer.Option(help="The node's public base URL")],
    name: Annotated[str, typer.Option(help="The agency's name")],
    role: Annotated[str, typer.Option(help="sending, receiving or both")] = "both",
    country: Annotated[str | None, typer.Option(help="ISO 3166 code (default: the id's)")] = None,
) -> None:
    """Print the node's member entry (its public keys) as JSON, for a proposal."""

    node = Node.open(directory)
    try:
        member = member_entry(node, name=name, url=url, role=role, country=country)
    finally:
        node.stop()
    out.print_json(json.dumps(member.model_dump()))


def _read_member(path: Path) -> Any:
    """A member entry file (``pel federation member``'s output), checked."""

    try:
        return Member.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TrustListError(
            f"{path} is not a member entry: {where + ': ' if where else ''}{first['msg']}"
        ) from None


@app.command("init")
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


@app.command("propose")
@friendly
def federation_propose(
    directory: Annotated[Path, typer.Argument(help="A node directory holding the current list")],
    file: Annotated[Path, typer.Argument(help="Where to write the unsigned next version")],
    add: Annotated[list[Path] | None, typer.Option(help="Add or replace a member (JSON)")] = None,
    remove: Annotated[list[str] | None, typer.Option(help="Remove a member (agency id)")] = None,
    quorum: Annotated[int | None, typer.Option(help="New witness quorum")] = None,
    threshold: Annotated[int | None, typer.Option(help="New signing threshold")] = None,
    policy: Annotated[
        str | None, typer.Option(help="Cosigner policy: both (keys) or either (key)")
    ] = None,
) -> None:
    """Write the next version of the node's trust list with the given changes."""

    current = load_trust_list(directory, load_settings(directory))
    if current is None:
        raise TrustListError("the node has no trust list yet: apply a version 1 first")
    if policy is not None and policy not in POLICIES:
        raise TrustListError(f"the cosigner policy is both or either, not {policy!r}")
    tl = propose_version(
        current,
        add=(_read_member(path) for path in add or []),
        remove=remove or [],
        witness_quorum=quorum,
        threshold=threshold,
        cosigner_policy=policy,  # type: ignore[arg-type]
    )
    file.write_text(SignedTrustList(tl).to_json())
    out.print(
        f"wrote {file}: version {tl.version}, {len(tl.members)} members, "
        f"threshold {tl.threshold}, quorum {tl.witness_quorum}"
    )


@app.command("sign")
@friendly
def federation_sign(
    file: Annotated[Path, typer.Argument(help="A trust-list version (signed in place)")],
    directory: Annotated[Path | None, typer.Option(help="Sign with this node's issuer key")] = None,
    key: Annotated[Path | None, typer.Option(help="Or with this PEM key (a new key)")] = None,
    agency: Annotated[str | None, typer.Option(help="The agency signing with --key")] = None,
) -> None:
    """Add a member's signature to a trust-list version."""

    if directory is not None:
        signer_agency = load_settings(directory).agency
        signing_key = read_private_key(directory / KEY_FILES["issuer"])
    elif key is not None and agency is not None:
        signer_agency, signing_key = agency, read_private_key(key)
    else:
        raise ConfigError("give --directory, or --key with --agency")
    signed = read_signed(file).sign(signer_agency, signing_key)
    file.write_text(signed.to_json())
    out.print(
        f"{signer_agency} signed version {signed.trust_list.version} "
        f"({len(signed.signatures)} signatures)"
    )


@app.command("apply")
@friendly
def federation_apply(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    file: Annotated[Path, typer.Argument(help="A signed trust-list version")],
) -> None:
    """Verify a version against the node's current one and adopt it (version 1: pin it)."""

    tl = apply_version(directory, read_signed(file))
    out.print(f"applied version {tl.version} of {tl.federation}: {len(tl.members)} members")
    for role in install_rotated_keys(directory, load_settings(directory)):
        out.print(f"installed the node's new {role} key")


@app.command("show")
@friendly
def federation_show(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    policy: Annotated[
        str | None, typer.Option(help="Print the C2SP tlog-policy for this origin")
    ] = None,
) -> None:
    """Show the node's current trust list (or one log's tlog-policy)."""

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
        f"witness quorum {tl.witness_quorum}; a witness counts with "
        f"{'both keys' if tl.cosigner_policy == 'both' else 'either key'}; "
        f"signing threshold {tl.threshold} of {len(tl.members)}"
    )
