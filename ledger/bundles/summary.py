"""A person's reading of a verified bundle: per host state, months of contributions by
branch, insured earnings and contributions by currency, entitlements and their status.

Only what stands counts: a revoked record is left out (a revoked entitlement is shown
as revoked), an amended record counts with its newest amendment's body.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pel.ledger.records.types import LAW_TYPES

if TYPE_CHECKING:
    from pel.ledger.bundles.bundle import BundleReport


@dataclass
class StateSummary:
    """What the bundle proves for one member state (where the records were issued)."""

    country: str
    agencies: set[str] = field(default_factory=set)
    months_by_branch: dict[str, int] = field(default_factory=dict)
    periods: set[str] = field(default_factory=set)
    earnings: dict[str, Decimal] = field(default_factory=dict)
    contributions: dict[str, Decimal] = field(default_factory=dict)
    entitlements: list[dict[str, Any]] = field(default_factory=list)
    revoked: int = 0
    amended: int = 0


@dataclass
class Summary:
    """A person's reading of a verified bundle."""

    pwid: str
    home_country: str
    enrolment: dict[str, Any] | None
    states: dict[str, StateSummary]
    corrections: list[str]


def summarise(report: BundleReport) -> Summary:
    """Per state: months of contributions by branch (distinct periods), insured earnings and
    contributions by currency, entitlements with their status; corrections applied."""
    states: dict[str, StateSummary] = {}
    enrolment = None
    branch_periods: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    corrections = []
    for v in report.records:
        r = v.record
        if v.type in LAW_TYPES:
            continue  # public law carried for a decision: not the worker's records
        st = states.setdefault(v.member.country, StateSummary(v.member.country))
        st.agencies.add(v.member.agency)
        if v.type in ("amendment", "revocation"):
            if v.status != "revoked":
                t = r["body"]["target"]
                verb = "revokes" if v.type == "revocation" else "amends"
                reason = r["body"]["reason"]
                corrections.append(
                    f"{r['issuer']}/{r['id']} {verb} {t['issuer']}/{t['id']} ({reason})"
                )
            continue
        if v.status == "revoked":
            st.revoked += 1
            if v.type == "entitlement":
                st.entitlements.append({**v.body, "id": r["id"], "record_status": "revoked"})
            continue
        if v.status == "amended":
            st.amended += 1
        b = v.body
        if v.type == "enrolment":
            enrolment = {"issuer": r["issuer"], "id": r["id"], **b}
        elif v.type == "contribution":
            st.periods.add(b["period"])
            for branch in b["contributions"]:
                branch_periods[st.country][branch].add(b["period"])
            cur = b["currency"]
            st.earnings[cur] = st.earnings.get(cur, Decimal(0)) + Decimal(b["insured_earnings"])
            paid = sum((Decimal(x) for x in b["contributions"].values()), Decimal(0))
            st.contributions[cur] = st.contributions.get(cur, Decimal(0)) + paid
        elif v.type == "entitlement":
            st.entitlements.append({**b, "id": r["id"], "record_status": v.status})
    for country, branches in branch_periods.items():
        states[country].months_by_branch = {k: len(p) for k, p in sorted(branches.items())}
    home = enrolment["home_country"] if enrolment else report.home_country
    return Summary(report.pwid, home, enrolment, dict(sorted(states.items())), corrections)
