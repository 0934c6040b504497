"""``pel agreement propose|sign|publish|show|withdraw``: agreements between member agencies.

The life of an agreement: the proposer (the first party) writes the draft with
``propose``; every party signs the same file with ``sign`` (its node directory holds
its issuer key); the proposer signs last, which also seals the record (its envelope
signature); then every party ``publish``es the same file to its own node.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pel.ledger.errors import AgreementError
from pel.ledger.portability.agreements import FORMAT, sign_agreement
from pel.ledger.records import validate_record
from pel.node.agency_node import Node, utc_now
from pel.node.cli.common import friendly, out, wide
from pel.node.cli.rules import node_directory
from pel.node.config import KEY_FILES, load_settings
from pel.node.errors import ConfigError
from pel.node.law.publish import law_view, publish
from pel.node.peers.client import LogClient
from pel.node.trust.secret_files import read_private_key

app = typer.Typer(help="Agreements between states, signed by every party, in every party's log.")


def draft_agreement(
    *,
    record_id: str,
    parties: list[str],
    branches: list[str],
    in_force_from: str,
    until: str | None,
    totalisation: bool,
    minimum_period_months: int,
    export: bool,
    title: str,
    url: str,
    issued_at: str | None = None,
) -> dict[str, Any]:
    """An unsigned agreement record, checked; its issuer is the first party."""
    record = {
        "v": 1,
        "type": "agreement",
        "issuer": parties[0] if parties else "",
        "id": record_id,
        "issued_at": issued_at or utc_now(),
        "body": {
            "format": FORMAT,
            "parties": parties,
            "branches": branches,
            "totalisation": totalisation,
            "minimum_period_months": minimum_period_months,
            "export": export,
            "in_force_from": in_force_from,
            "until": until,
            "legal_text": {"title": title, "url": url},
            "signatures": [],
        },
    }
    validate_record(record, signed=False)
    return record


def read_agreement(path: Path) -> dict[str, Any]:
    """An agreement file, checked against the schema (signed or not)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AgreementError(f"{path.name} is not JSON: {exc}", code="bad_json") from None
    if not isinstance(record, dict) or record.get("type") != "agreement":
        raise AgreementError(f"{path.name} holds no agreement record", code="not_an_agreement")
    validate_record(record, signed="sig" in record)
    return record


def _write(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@app.command("propose")
@friendly
def propose(
    out_file: Annotated[Path, typer.Argument(help="Where to write the draft (JSON)")],
    parties: Annotated[str, typer.Option(help="Agency ids, the proposer first: TH-SSO,MY-PERKESO")],
    in_force_from: Annotated[str, typer.Option("--from", help="Date it enters into force")],
    title: Annotated[str, typer.Option(help="Title of the legal text")],
    url: Annotated[str, typer.Option(help="URL of the legal text")],
    record_id: Annotated[str, typer.Option("--id", help="The record id (same in every log)")],
    branches: Annotated[str, typer.Option(help="Branches covered")] = "old_age",
    until: Annotated[str | None, typer.Option(help="Date it ends (optional)")] = None,
    totalisation: Annotated[bool, typer.Option(help="Insurance periods are added up")] = True,
    minimum_months: Annotated[
        int, typer.Option(help="Minimum period (EU 883/2004 art. 57)", min=0)
    ] = 12,
    export: Annotated[bool, typer.Option(help="Benefits are paid abroad")] = True,
) -> None:
    """Write an agreement draft for every party to sign."""
    record = draft_agreement(
        record_id=record_id,
        parties=_split(parties),
        branches=_split(branches),
        in_force_from=in_force_from,
        until=until,
        totalisation=totalisation,
        minimum_period_months=minimum_months,
        export=export,
        title=title,
        url=url,
    )
    _write(out_file, record)
    out.print(f"wrote {out_file}: {len(record['body']['parties'])} parties to sign", markup=False)


@app.command("sign")
@friendly
def sign(
    file: Annotated[Path, typer.Argument(help="The agreement file (signed in place)")],
    node_dir: Annotated[Path, typer.Option("--node", help="The signing party's node directory")],
) -> None:
    """Add a party's signature (with its node's issuer key); the proposer's, given last,
    seals the record."""
    record = read_agreement(file)
    settings = load_settings(node_dir)
    key = read_private_key(node_dir / KEY_FILES["issuer"])
    signed = sign_agreement(record, settings.agency, key)
    _write(file, signed)
    have = [s["issuer"] for s in signed["body"]["signatures"]]
    missing = [p for p in signed["body"]["parties"] if p not in have]
    state = (
        "sealed: ready to publish"
        if "sig" in signed
        else (
            f"waiting for {', '.join(missing)}" if missing else "the proposer signs last to seal it"
        )
    )
    out.print(f"{settings.agency} signed {file} ({state})", markup=False, highlight=False)


@app.command("publish")
@friendly
def publish_cmd(
    file: Annotated[Path, typer.Argument(help="The sealed agreement file")],
    url: Annotated[str, typer.Argument(help="A party's own node")],
    token: Annotated[str, typer.Option(envvar="PEL_TOKEN", help="Write token")] = "",
) -> None:
    """Append the agreement to one party's log (every party publishes the same file)."""
    record = read_agreement(file)
    if "sig" not in record:
        raise AgreementError(
            "the agreement is not sealed: every party signs it, the proposer last",
            code="not_sealed",
        )
    receipt = publish(url, token, record)
    again = " (already in the log)" if receipt.get("duplicate") else ""
    out.print(f"published {record['id']} at index {receipt['index']}{again}", markup=False)


@app.command("withdraw")
@friendly
def withdraw(
    url: Annotated[str, typer.Argument(help="The withdrawing party's own node")],
    issuer: Annotated[str, typer.Option(help="The agreement's issuer (its proposer)")],
    agreement_id: Annotated[str, typer.Option("--agreement", help="The agreement's id")],
    effective: Annotated[str, typer.Option(help="Date the withdrawal takes effect")],
    token: Annotated[str, typer.Option(envvar="PEL_TOKEN", help="Write token")] = "",
) -> None:
    """Leave an agreement from a date on, by a record in the party's own log."""
    record = {
        "type": "withdrawal",
        "id": f"withdrawal-{agreement_id}"[:128],
        "body": {"agreement": {"issuer": issuer, "id": agreement_id}, "effective": effective},
    }
    receipt = publish(url, token, record)
    out.print(f"withdrawal {receipt['id']} at index {receipt['index']}", markup=False)


def agreements_view(source: str, state: str | None, at: str) -> dict[str, Any]:
    """The agreements a log holds, from its node's URL or its (demo) directory."""
    if source.startswith(("http://", "https://")):
        with LogClient(source) as client:
            return client.law("agreements", at)
    node = Node.open(node_directory(Path(source), state))
    try:
        return {"agency": node.agency, "at": at, "agreements": law_view(node).agreements_at(at)}
    finally:
        node.stop()


@app.command("show")
@friendly
def show(
    source: Annotated[str, typer.Argument(help="A node's URL, or a node or demo directory")],
    state: Annotated[str | None, typer.Option(help="The state (for a demo directory)")] = None,
    at: Annotated[str | None, typer.Option(help="The date (YYYY-MM-DD, default today)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print the agreements a log holds and whether each is in force on a date."""
    day = at or dt.datetime.now(dt.UTC).date().isoformat()
    got = agreements_view(source, state, day)
    if as_json:
        print(json.dumps(got, indent=1, ensure_ascii=False))
        return
    if not got["agreements"]:
        raise ConfigError(f"the log of {got['agency']} holds no agreement", code="no_agreement")
    table = Table(title=f"Agreements in the log of {got['agency']}, on {day}")
    for col in (
        "id",
        "parties",
        "branches",
        "totalisation",
        "min. months",
        "export",
        "from",
        "in force",
        "index",
    ):
        table.add_column(col)
    for a in got["agreements"]:
        b = a["record"]["body"]
        table.add_row(
            a["record"]["id"],
            ", ".join(b["parties"]),
            ", ".join(b["branches"]),
            "yes" if b["totalisation"] else "no",
            str(b["minimum_period_months"]),
            "yes" if b["export"] else "no",
            b["in_force_from"] + (f" to {b['until']}" if b["until"] else ""),
            "yes" if a["in_force"] else "no",
            str(a["index"]),
        )
    wide(table)


__all__ = ["agreements_view", "app", "draft_agreement", "read_agreement"]
