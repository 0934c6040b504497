"""Records, rules tables and agreements for decision tests, built in memory.

The engine reads verified records; it never checks signatures (the bundle verifier
and the node do that first), so the records here are unsigned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pel.ledger.portability.periods import ProvenRef, SourcedRecord

PWID = "MM-7K3Q9X2M4T8V1B5N"
SOURCE = {
    "instrument": "Test Act",
    "article": "s.1",
    "url": "https://example.org/act",
    "read": "2026-12-07",
    "status": "verified",
}


def months(first: str, count: int) -> list[str]:
    """``count`` consecutive periods from ``first`` (YYYY-MM)."""
    y, m = int(first[:4]), int(first[5:])
    out = []
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def param(unit: str, value: Any, start: str = "1950-01-01") -> dict[str, Any]:
    return {"unit": unit, "values": [{"from": start, "value": value, "sources": [SOURCE]}]}


def n(x: str) -> dict[str, str]:
    return {"num": x}


def v(x: str) -> dict[str, str]:
    return {"var": x}


def full_after_40_years(full: str) -> dict[str, Any]:
    """``full`` x min(years, 40) / 40: the full pension after 40 years of insurance."""
    return {"mul": [n(full), {"div": [{"min": [v("years"), n("40")]}, n("40")]}]}


def table(state: str, currency: str, **params: dict[str, Any]) -> dict[str, Any]:
    base = {"rounding": param("money", "0.01")}
    return {
        "format": "pel-rules/v1",
        "state": state,
        "scheme": f"Test scheme of {state}",
        "currency": currency,
        "branches": {"old_age": {"parameters": {**base, **params}}},
    }


class Logs:
    """Logs of the test federation: each agency's records get the next index of its log."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}
        self.seq = 0

    def _ref(self, issuer: str, rid: str | None = None) -> ProvenRef:
        origin = f"pel.example/{issuer.lower()}"
        index = self.next.get(origin, 0)
        self.next[origin] = index + 1
        self.seq += 1
        return ProvenRef(origin, index, issuer, rid or f"r{self.seq}")

    def record(
        self,
        issuer: str,
        type_: str,
        body: dict[str, Any],
        pwid: str | None = PWID,
        rid: str | None = None,
    ) -> SourcedRecord:
        ref = self._ref(issuer, rid)
        rec: dict[str, Any] = {
            "v": 1,
            "type": type_,
            "issuer": issuer,
            "id": ref.id,
            "issued_at": "2026-12-01T00:00:00Z",
            "body": body,
            "sig": "x",
        }
        if pwid is not None:
            rec["pwid"] = pwid
        return SourcedRecord(rec, ref)

    def contributions(
        self,
        issuer: str,
        currency: str,
        periods: Iterable[str],
        earnings: str = "1000.00",
        paid: str = "50.00",
        pwid: str = PWID,
    ) -> list[SourcedRecord]:
        return [
            self.record(
                issuer,
                "contribution",
                {
                    "employer": "EMP-0001",
                    "period": p,
                    "insured_earnings": earnings,
                    "currency": currency,
                    "contributions": {"old_age": paid},
                },
                pwid,
            )
            for p in periods
        ]

    def rules(self, issuer: str, body: dict[str, Any]) -> SourcedRecord:
        return self.record(issuer, "rules", body, pwid=None)

    def agreement(
        self,
        parties: list[str],
        *,
        start: str = "2000-01-01",
        until: str | None = None,
        minimum: int = 12,
        totalisation: bool = True,
        branches: tuple[str, ...] = ("old_age",),
        rid: str = "agreement-1",
    ) -> list[SourcedRecord]:
        """The same agreement record, appended to every party's log."""
        body = {
            "format": "pel-agreement/v1",
            "parties": parties,
            "branches": list(branches),
            "totalisation": totalisation,
            "minimum_period_months": minimum,
            "export": True,
            "in_force_from": start,
            "until": until,
            "legal_text": {"title": f"Agreement {rid}", "url": "https://example.org/ag"},
            "signatures": [{"issuer": p, "sig": "x"} for p in parties],
        }
        copies = []
        for p in parties:
            origin = f"pel.example/{p.lower()}"
            index = self.next.get(origin, 0)
            self.next[origin] = index + 1
            rec = {
                "v": 1,
                "type": "agreement",
                "issuer": parties[0],
                "id": rid,
                "issued_at": "2026-12-01T00:00:00Z",
                "body": body,
                "sig": "x",
            }
            copies.append(SourcedRecord(rec, ProvenRef(origin, index, parties[0], rid)))
        return copies
