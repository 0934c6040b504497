"""The decision engine's inputs from a verified bundle: each record with where it was
proven, sorted into the worker's records, the rules and the agreements.

Whoever decides (the ``pel entitle`` command offline, a node answering
``POST /v1/decisions``) first verifies a bundle (``ledger.bundles.verify_bundle``) and
then decides from this, so the same bundle gives the same decision everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from pel.ledger.bundles.bundle import BundleReport
from pel.ledger.portability.decision import Decision
from pel.ledger.portability.engine import Claim, decide
from pel.ledger.portability.periods import ProvenRef, SourcedRecord

LAW_AGREEMENTS = ("agreement", "withdrawal")


@dataclass(frozen=True)
class Inputs:
    """A worker's verified records, the rules records and the agreement records."""

    records: tuple[SourcedRecord, ...]
    rules: tuple[SourcedRecord, ...]
    agreements: tuple[SourcedRecord, ...]


def sort_inputs(sourced: Iterable[SourcedRecord]) -> Inputs:
    """Sort verified records for :func:`decide` (corrections are applied by the engine
    itself, from the records as logged)."""
    records: list[SourcedRecord] = []
    rules: list[SourcedRecord] = []
    agreements: list[SourcedRecord] = []
    for s in sourced:
        if s.type == "rules":
            rules.append(s)
        elif s.type in LAW_AGREEMENTS:
            agreements.append(s)
        else:
            records.append(s)
    return Inputs(tuple(records), tuple(rules), tuple(agreements))


def inputs_from_report(report: BundleReport) -> Inputs:
    """A verified bundle's records with where each was proven, sorted for :func:`decide`."""
    return sort_inputs(
        SourcedRecord(
            v.record, ProvenRef(v.member.origin, v.index, v.record["issuer"], v.record["id"])
        )
        for v in report.records
    )


def decide_report(
    report: BundleReport,
    *,
    at: date,
    benefit: str = "old_age",
    birth_date: date | None = None,
) -> Decision:
    """Decide from a verified bundle: its worker, records, rules and agreements."""
    got = inputs_from_report(report)
    claim = Claim(report.pwid, at, benefit, birth_date)
    return decide(claim, got.records, got.rules, got.agreements)
