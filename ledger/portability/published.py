"""What one log says about law: its state's rules and the agreements it holds, at a date.

A log holds its own state's ``rules`` records (each one a whole table; the newest in
log order is the current table, the older ones stay so that a decision that named
them can be recomputed), the ``agreement`` records its agency is a party to (appended
to every party's log) and the ``withdrawal`` records of its agency. ``LawView`` reads
them from ``(index, record)`` pairs, in log order; it is pure and serves the node's
read endpoints, ``pel rules show`` and ``pel agreement show`` alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pel.ledger.errors import NotFoundError
from pel.ledger.portability.agreements import in_force, parties_at
from pel.ledger.portability.rules import RulesTable, table_at
from pel.ledger.records.types import LAW_TYPES


@dataclass(frozen=True)
class Published:
    """A law record where a log holds it."""

    index: int
    record: Mapping[str, Any]

    @property
    def ref(self) -> dict[str, Any]:
        """``{"issuer", "id", "index", "issued_at"}``: what a decision names."""
        r = self.record
        return {
            "issuer": r["issuer"],
            "id": r["id"],
            "index": self.index,
            "issued_at": r["issued_at"],
        }


@dataclass
class LawView:
    """The rules, agreements and withdrawals of one log, in log order."""

    rules: list[Published] = field(default_factory=list)
    agreements: list[Published] = field(default_factory=list)
    withdrawals: list[Published] = field(default_factory=list)

    @classmethod
    def of(cls, records: Iterable[tuple[int, Mapping[str, Any]]]) -> LawView:
        view = cls()
        for index, record in records:
            kind = record.get("type")
            if kind not in LAW_TYPES:
                continue
            target = {"rules": view.rules, "agreement": view.agreements}.get(kind, view.withdrawals)
            target.append(Published(index, record))
        return view

    def current_rules(self) -> Published:
        """The newest rules record.

        Raises:
            NotFoundError: the log holds none.
        """
        if not self.rules:
            raise NotFoundError("this log holds no rules record")
        return self.rules[-1]

    def rules_at(self, at: dt.date | str) -> dict[str, Any]:
        """The current table with every parameter in force at ``at`` (JSON-ready)."""
        pub = self.current_rules()
        table = RulesTable.parse(pub.record["body"], pub.ref)
        day = at.isoformat() if isinstance(at, dt.date) else at
        branches = {
            branch: {
                name: {
                    "value": p.value
                    if p.unit in ("bool", "months", "formula", "text")
                    else str(p.value),
                    "unit": p.unit,
                    "from": p.from_,
                    "sources": list(p.sources),
                }
                for name, p in params.items()
            }
            for branch, params in table_at(table, day).items()
        }
        return {
            "state": table.state,
            "scheme": table.body["scheme"],
            "currency": table.currency,
            "at": day,
            "record": pub.ref,
            "versions": [p.ref for p in self.rules],
            "in_force": branches,
        }

    def agreements_at(self, at: dt.date | str) -> list[dict[str, Any]]:
        """Every agreement of the log, with its withdrawals and whether it is in force."""
        day = at.isoformat() if isinstance(at, dt.date) else at
        withdrawals = [w.record for w in self.withdrawals]
        out = []
        for pub in self.agreements:
            key = {"issuer": pub.record["issuer"], "id": pub.record["id"]}
            own = [w for w in self.withdrawals if w.record["body"]["agreement"] == key]
            out.append(
                {
                    "record": dict(pub.record),
                    "index": pub.index,
                    "at": day,
                    "in_force": in_force(pub.record, withdrawals, day),
                    "parties_bound": parties_at(pub.record, withdrawals, day),
                    "withdrawals": [dict(w.record, index=w.index) for w in own],
                }
            )
        return out

    def agreement(self, issuer: str, record_id: str) -> Published:
        """The agreement ``(issuer, record_id)`` as this log holds it.

        Raises:
            NotFoundError: not in this log.
        """
        for pub in self.agreements:
            if pub.record["issuer"] == issuer and pub.record["id"] == record_id:
                return pub
        raise NotFoundError(f"this log holds no agreement {record_id!r} of {issuer}")


__all__ = ["LawView", "Published"]
