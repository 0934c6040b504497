"""One state's share of a decision, as the body of the ``entitlement`` record that state
issues, and the check of such a record against a decision made again.

The issuer's node writes the record from its decision (``node.workers.decisions``); an auditor
decides again from the records the ``basis`` names and compares (``node.peers``'s
audit). Both use :func:`share` so they cannot disagree on how a decision becomes a
record: the amount due where a pension is due (monthly), otherwise the lump sum (once),
otherwise nothing (refused).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pel.ledger.errors import RecordError
from pel.ledger.portability.decision import Decision

#: The entitlement's benefit for each branch: a pension, or a lump sum.
BENEFITS = {"old_age": ("old_age_pension", "lump_sum_refund")}
#: The body fields a decision fixes (the rest, ``exportable`` included, are the issuer's).
DECIDED = ("benefit", "status", "amount", "currency", "frequency", "start_date")


def share(decision: Decision, state: str) -> dict[str, Any]:
    """The decided fields of ``state``'s entitlement record, and its periods.

    Raises:
        RecordError: ``no_periods_here`` (no insured months in ``state``) or
            ``not_decided`` (``state`` published no rules for the branch).
    """
    mine = [s for s in decision.states if s.state == state]
    if not mine or not mine[0].periods:
        raise RecordError(
            f"the worker has no insured months in {state}: nothing to decide there",
            code="no_periods_here",
        )
    s = mine[0]
    if "amount_due" not in s.figures:
        raise RecordError(
            f"{state} published no rules for this branch: nothing can be decided",
            code="not_decided",
        )
    pension, lump = BENEFITS.get(decision.benefit, (decision.benefit, decision.benefit))
    due: Decimal = s.figures["amount_due"].value
    lump_sum: Decimal = s.figures["lump_sum"].value if "lump_sum" in s.figures else Decimal(0)
    paid = due if due > 0 else lump_sum
    return {
        "benefit": pension if due > 0 or lump_sum == 0 else lump,
        "status": "granted" if paid > 0 else "refused",
        "amount": format(paid, "f"),
        "currency": s.currency,
        "frequency": "monthly" if due > 0 else "one_off",
        "start_date": decision.at,
        "exportable": not any("abroad" in n for n in s.notes),
        "periods": list(s.periods)[:1200],
    }


def differences(body: dict[str, Any], decision: Decision, state: str) -> dict[str, Any]:
    """The decided fields where a recorded entitlement body differs from ``decision``
    (amounts compared as numbers), each as ``{"recorded", "recomputed"}``; the decision's
    SHA-256 under ``decision`` when the basis names another."""
    try:
        want = share(decision, state)
    except RecordError as exc:
        return {"decision": {"recorded": "a decision", "recomputed": exc.message}}
    out: dict[str, Any] = {}
    for name in DECIDED:
        got, expected = body.get(name), want[name]
        same = (
            Decimal(str(got)) == Decimal(expected)
            if name == "amount" and got is not None
            else got == expected
        )
        if not same:
            out[name] = {"recorded": got, "recomputed": expected}
    recorded = (body.get("basis") or {}).get("decision")
    if recorded != decision.digest():
        out["decision"] = {"recorded": recorded, "recomputed": decision.digest()}
    return out
