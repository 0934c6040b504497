"""``pel entitle``: decide a worker's entitlements offline from a verified bundle.

Nothing is decided from an unverified record: the bundle is verified first
(``ledger.bundles.verify_bundle``, against the trust list given), and the rules and
agreements are the ``rules``, ``agreement`` and ``withdrawal`` records the bundle
carries, each proven in its state's log like the worker's records (a node puts them in
the worker's bundle: the rules of every state where the worker has records, and the
agreements between those states). So the decision rests on nothing but the bundle and
the trust list, and equals the one a node makes for ``POST /v1/decisions``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pel.ledger.bundles.bundle import verify_bundle
from pel.ledger.portability.decision import FIGURES, Decision
from pel.ledger.portability.inputs import decide_report
from pel.node.cli.bundle import _trust_chain
from pel.node.cli.common import friendly, out
from pel.node.errors import ConfigError

_LABELS = {
    "months": "months insured",
    "qualifies_alone": "qualifies alone",
    "totalised_months": "months totalised",
    "qualifies_with_totalisation": "qualifies with totalisation",
    "national_amount": "national amount",
    "theoretical_amount": "theoretical amount",
    "pro_rata_fraction": "pro-rata fraction",
    "pro_rata_amount": "pro-rata amount",
    "amount_due": "amount due",
    "lump_sum": "lump sum",
}


def parse_day(value: str | None, what: str) -> dt.date | None:
    """A ``YYYY-MM-DD`` option as a date (None stays None).

    Raises:
        ConfigError: ``bad_date``.
    """
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{what} is not a date: YYYY-MM-DD", code="bad_date") from None


def _value(value: Any, currency: str | None, name: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name.endswith(("amount", "lump_sum", "amount_due")) and currency:
        return f"{value} {currency}"
    return str(value)


def print_decision(decision: Decision) -> None:
    """A table per state: each figure, its value and the reason for it."""
    out.print(
        f"decision for {decision.pwid}: {decision.benefit} on {decision.at} "
        f"(home {decision.home}; age {'checked' if decision.age_checked else 'not checked'})",
        highlight=False,
    )
    for a in decision.agreements:
        verdict = "applies" if a["applies"] else "does not apply"
        out.print(
            f"agreement {a['agreement']['issuer']}/{a['agreement']['id']} ({a['title']}): "
            f"{verdict}: {a['reason']}",
            highlight=False,
        )
    for s in decision.states:
        table = Table(
            title=f"{s.state}: {s.outcome}"
            + (
                f", totalised with {', '.join(t for t in s.totalised_with if t != s.state)}"
                if len(s.totalised_with) > 1
                else ""
            ),
            title_justify="left",
        )
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_column("reason")
        table.add_column("law")
        for name in FIGURES:
            f = s.figures.get(name)
            if f is None:
                continue
            law = ", ".join(
                f"{p.name} {p.value if p.unit != 'formula' else '(formula)'} from {p.in_force_from}"
                for p in f.params
                if p.name != "rounding"
            )
            table.add_row(_LABELS[name], _value(f.value, s.currency, name), f.reason, law)
        out.print(table)
        for note in s.notes:
            out.print(f"  note: {note}", highlight=False)


@friendly
def entitle(
    bundle: Annotated[Path, typer.Argument(help="The worker's bundle (pel-bundle/v1)")],
    trust: Annotated[
        list[Path], typer.Option(help="The signed trust list (JSON); repeat for a chain")
    ],
    benefit: Annotated[str, typer.Option(help="The branch: old_age")] = "old_age",
    at: Annotated[
        str | None, typer.Option(help="The decision date, YYYY-MM-DD (default: today, UTC)")
    ] = None,
    birth_date: Annotated[
        str | None, typer.Option(help="The worker's birth date, to check the pension age")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON")] = False,
) -> None:
    """Verify a bundle, then decide what each state owes the worker, figure by figure."""

    day = parse_day(at, "--at") or dt.datetime.now(dt.UTC).date()
    report = verify_bundle(bundle.read_bytes(), _trust_chain(trust))
    decision = decide_report(
        report, at=day, benefit=benefit, birth_date=parse_day(birth_date, "--birth-date")
    )
    if as_json:
        out.print(decision.to_bytes().decode(), highlight=False, soft_wrap=True, markup=False)
        return
    print_decision(decision)
