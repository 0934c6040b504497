"""``pel rules validate|publish|show``: a state's scheme-rules table, checked, published, read."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pel.ledger.errors import RulesError
from pel.ledger.portability.formula import formula_text
from pel.ledger.portability.published import LawView
from pel.ledger.portability.rules import RulesTable, check_table, parse_yaml
from pel.ledger.portability.shipped import shipped_table
from pel.node.agency_node import Node
from pel.node.cli.common import friendly, out, wide
from pel.node.errors import ConfigError
from pel.node.law.publish import law_view, publish, rules_draft
from pel.node.peers.client import LogClient

app = typer.Typer(help="Scheme rules: each state's law as a signed table of dated parameters.")

AtOption = Annotated[
    str | None, typer.Option("--at", help="Read the law in force on this date (YYYY-MM-DD)")
]


def read_table(path: Path) -> dict[str, Any]:
    """A table file (YAML, or JSON, which is YAML too), checked.

    Raises:
        RulesError: not YAML, or not a ``pel-rules/v1`` table (with the field's path).
    """
    body = parse_yaml(path.read_text(encoding="utf-8"))
    try:
        check_table(body)
    except RulesError as exc:
        raise RulesError(f"{path.name}: {exc.message}", code=exc.code, field=exc.field) from None
    return body  # type: ignore[no-any-return]


def _count(body: dict[str, Any]) -> tuple[int, int, int, int]:
    params = values = sources = unverified = 0
    for branch in body["branches"].values():
        for param in branch["parameters"].values():
            params += 1
            for v in param["values"]:
                values += 1
                sources += len(v["sources"])
                unverified += any(s["status"] != "verified" for s in v["sources"])
    return params, values, sources, unverified


@app.command("validate")
@friendly
def validate(
    files: Annotated[list[Path], typer.Argument(help="Table files (YAML or JSON)")],
) -> None:
    """Check tables against the pel-rules/v1 format; a bad field is named by its path."""
    for path in files:
        body = read_table(path)
        params, values, sources, unverified = _count(body)
        out.print(
            f"ok: {path.name}: {body['state']}, {len(body['branches'])} branches, "
            f"{params} parameters, {values} dated values, {sources} sources "
            f"({unverified} values with an unverified source)",
            markup=False,
            highlight=False,
        )


@app.command("publish")
@friendly
def publish_cmd(
    url: Annotated[str, typer.Argument(help="The state's own node")],
    file: Annotated[
        Path | None, typer.Argument(help="Table file (default: the shipped table, --state)")
    ] = None,
    state: Annotated[
        str | None, typer.Option(help="Publish pel's shipped table of this state (e.g. TH)")
    ] = None,
    token: Annotated[str, typer.Option(envvar="PEL_TOKEN", help="Write token")] = "",
) -> None:
    """Publish a rules table as a record in the state's own log, signed by its node."""
    if (file is None) == (state is None):
        raise ConfigError("give a table file or --state, not both")
    body = read_table(file) if file is not None else shipped_table(state or "")
    receipt = publish(url, token, rules_draft(body))
    again = " (already in the log)" if receipt.get("duplicate") else ""
    out.print(
        f"published the rules of {body['state']} as {receipt['id']} at index "
        f"{receipt['index']}{again}",
        markup=False,
        highlight=False,
    )


def node_directory(path: Path, state: str | None) -> Path:
    """``path`` itself if it is a node directory; else its node subdirectory for ``state``
    (a demo directory holds one per member)."""
    if (path / "node.json").is_file():
        return path
    if state is None:
        raise ConfigError(f"{path} holds several nodes: say which with --state")
    found = [
        d for d in sorted(path.iterdir()) if d.name[:2] == state and (d / "node.json").is_file()
    ]
    if not found:
        raise ConfigError(f"{path} holds no node of {state}")
    return found[0]


def rules_view(source: str, state: str | None, at: str) -> dict[str, Any]:
    """The rules in force at ``at`` from a node URL, a node (or demo) directory, or a
    table file or directory of table files."""
    if source.startswith(("http://", "https://")):
        with LogClient(source) as client:
            got = client.law("rules", at)
    else:
        path = Path(source)
        if path.is_file() or (path.is_dir() and state and (path / f"{state}.yaml").is_file()):
            file = path if path.is_file() else path / f"{state}.yaml"
            table = RulesTable.parse(read_table(file))
            view = LawView.of([(0, _as_record(table.body, file.name))])
            got = view.rules_at(at)
            got["record"] = {"file": str(file)}
        else:
            node = Node.open(node_directory(path, state))
            try:
                got = law_view(node).rules_at(at)
            finally:
                node.stop()
    if state is not None and got["state"] != state:
        raise ConfigError(f"{source} holds the rules of {got['state']}, not of {state}")
    return got


def _as_record(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {"type": "rules", "issuer": "", "id": name, "issued_at": "", "body": body}


def _shown(p: dict[str, Any]) -> str:
    if p["unit"] == "formula":
        return formula_text(p["value"])
    if p["unit"] == "bool":
        return "yes" if p["value"] else "no"
    return str(p["value"])


@app.command("show")
@friendly
def show(
    source: Annotated[str, typer.Argument(help="A node's URL, a node or demo directory, a table")],
    state: Annotated[str | None, typer.Option(help="The state (for a demo or table dir)")] = None,
    at: AtOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print a state's rules as in force on a date (default today)."""
    day = at or dt.datetime.now(dt.UTC).date().isoformat()
    got = rules_view(source, state, day)
    if as_json:
        print(json.dumps(got, indent=1, ensure_ascii=False))
        return
    table = Table(title=f"{got['state']}: {got['scheme']} ({got['currency']}), in force on {day}")
    for col in ("branch", "parameter", "value", "unit", "from", "sources"):
        table.add_column(col, no_wrap=col != "value")
    for branch, params in got["in_force"].items():
        for name, p in params.items():
            statuses = sorted({s["status"] for s in p["sources"]})
            table.add_row(branch, name, _shown(p), p["unit"], p["from"], "/".join(statuses))
    wide(table)
    rec = got["record"]
    if "index" in rec:
        out.print(
            f"rules record {rec['issuer']}/{rec['id']} at index {rec['index']} "
            f"({len(got['versions'])} version(s) in the log)",
            markup=False,
            highlight=False,
        )


__all__ = ["app", "node_directory", "read_table", "rules_view"]
