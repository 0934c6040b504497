"""The decision document: what the engine decides, every figure with its reason, the
law it applied and the records it rests on.

A :class:`Decision` is a frozen value; :meth:`Decision.to_obj` gives its JSON form
(``pel-decision/v1``: money and ratios as decimal strings, never floats) and
:meth:`Decision.to_bytes` its RFC 8785 canonical bytes, so two machines that decide
from the same inputs produce the same bytes, and :meth:`Decision.digest` the same hash.

Every :class:`Figure` carries:

* ``value``: a decimal string, an integer (months) or a boolean;
* ``reason``: one sentence a person reads;
* ``params``: each rule parameter it used (:class:`ParamUse`: name, value, in force
  from, sources, and the ``rules`` record it came from);
* ``records``: the records it rests on (issuer, id, log origin, index), and
  ``agreements``: the agreement records that made it possible.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from pel.crypto.jcs import canonicalize
from pel.ledger.portability.periods import ProvenRef

FORMAT = "pel-decision/v1"


@dataclass(frozen=True)
class ParamUse:
    """A rule parameter as the engine read it at the decision date."""

    name: str
    value: Any
    unit: str
    in_force_from: str | None
    sources: tuple[dict[str, Any], ...]
    rules: ProvenRef | None

    def to_obj(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _json(self.value),
            "unit": self.unit,
            "from": self.in_force_from,
            "sources": [dict(s) for s in self.sources],
            "rules": self.rules.to_obj() if self.rules else None,
        }


class Figure(NamedTuple):
    """One figure of a decision and everything it rests on. (A named tuple: a decision
    makes about ten per state, and a frozen dataclass costs several times as much.)"""

    value: Any
    reason: str
    params: tuple[ParamUse, ...] = ()
    records: tuple[ProvenRef, ...] = ()
    agreements: tuple[ProvenRef, ...] = ()

    def to_obj(self) -> dict[str, Any]:
        return {
            "value": _json(self.value),
            "reason": self.reason,
            "params": [p.to_obj() for p in self.params],
            "records": [r.to_obj() for r in self.records],
            "agreements": [r.to_obj() for r in self.agreements],
        }


#: The figures of a state's decision, in the order they are shown.
FIGURES = (
    "months",
    "qualifies_alone",
    "totalised_months",
    "qualifies_with_totalisation",
    "national_amount",
    "theoretical_amount",
    "pro_rata_fraction",
    "pro_rata_amount",
    "amount_due",
    "lump_sum",
)


class StateDecision(NamedTuple):
    """What one state owes: ``outcome`` is ``pension``, ``lump_sum``, ``nothing`` or
    ``no_rules`` (the state published no rules, so nothing can be decided for it)."""

    state: str
    agencies: tuple[str, ...]
    currency: str | None
    outcome: str
    periods: tuple[str, ...]
    counted_periods: tuple[str, ...]
    totalised_with: tuple[str, ...]
    figures: dict[str, Figure]
    notes: tuple[str, ...] = ()
    rules: ProvenRef | None = None

    def amount(self, name: str) -> Any:
        f = self.figures.get(name)
        return None if f is None else f.value

    def to_obj(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "agencies": list(self.agencies),
            "currency": self.currency,
            "outcome": self.outcome,
            "periods": list(self.periods),
            "counted_periods": list(self.counted_periods),
            "totalised_with": list(self.totalised_with),
            "figures": {k: self.figures[k].to_obj() for k in FIGURES if k in self.figures},
            "notes": list(self.notes),
            "rules": self.rules.to_obj() if self.rules else None,
        }


@dataclass(frozen=True)
class Decision:
    """An entitlement decision for one worker, one benefit, one date."""

    pwid: str
    benefit: str
    at: str
    birth_date: str | None
    age_checked: bool
    home: str
    states: tuple[StateDecision, ...]
    agreements: tuple[dict[str, Any], ...]
    basis: tuple[ProvenRef, ...]

    def state(self, code: str) -> StateDecision:
        return next(s for s in self.states if s.state == code)

    def to_obj(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "pwid": self.pwid,
            "benefit": self.benefit,
            "at": self.at,
            "birth_date": self.birth_date,
            "age": "checked" if self.age_checked else "not checked",
            "home": self.home,
            "states": [s.to_obj() for s in self.states],
            "agreements": [dict(a) for a in self.agreements],
            "basis": [r.to_obj() for r in self.basis],
        }

    def to_bytes(self) -> bytes:
        """RFC 8785 canonical JSON: the same inputs give the same bytes everywhere."""
        return canonicalize(self.to_obj())

    def digest(self) -> str:
        """Hex SHA-256 of :meth:`to_bytes`."""
        return hashlib.sha256(self.to_bytes()).hexdigest()


def _json(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return format(value, "f")  # positional, never "1E+2"
    return str(value)  # a date: its ISO text
