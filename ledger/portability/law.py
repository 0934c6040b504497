"""A state's law at a date, as the decision engine reads it: parameters resolved from
the state's published rules table (``ledger.portability.rules``) and formulas evaluated
by the one formula evaluator (``ledger.portability.formula``), each use recorded as a
:class:`~pel.ledger.portability.decision.ParamUse` naming the rules record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from pel.ledger.errors import LedgerError
from pel.ledger.portability import formula, rules
from pel.ledger.portability.decision import ParamUse
from pel.ledger.portability.periods import DecisionError, SourcedRecord


class Law:
    """One state's rules for one branch at one date."""

    def __init__(self, source: SourcedRecord, branch: str, at: date) -> None:
        self.source = source
        self.branch = branch
        self.at = at
        try:
            self.table = _parsed(source)
        except LedgerError as exc:
            raise DecisionError(
                "bad_rules",
                f"the rules record {source.ref.issuer}/{source.ref.id} is not a rules "
                f"table: {exc.message}",
            ) from None
        self.currency: str = self.table.currency
        self._cache: dict[str, ParamUse | None] = {}

    @classmethod
    def of(cls, source: SourcedRecord, branch: str, at: date) -> Law:
        """The law of ``source`` for ``branch`` at ``at``, kept like the parsed table
        (see :func:`_parsed`): deciding for many workers on one date under the same
        tables resolves each parameter once, not once per worker."""
        key = (*source.ref, branch, at)
        got = _LAWS.get(key)
        if got is not None and got.source.record["body"] is source.record["body"]:
            return got
        law = cls(source, branch, at)
        if len(_LAWS) >= _KEEP:
            _LAWS.pop(next(iter(_LAWS)))
        _LAWS[key] = law
        return law

    @property
    def has_branch(self) -> bool:
        return self.branch in self.table.branches()

    def get(self, name: str) -> ParamUse | None:
        """The parameter in force at the date, or None where the table has none."""
        if name not in self._cache:
            got = rules.find_param_at(self.table, self.branch, name, self.at)
            self._cache[name] = (
                None
                if got is None
                else ParamUse(
                    name,
                    got.value,
                    got.unit,
                    got.from_,
                    tuple(dict(s) for s in got.sources),
                    self.source.ref,
                )
            )
        return self._cache[name]

    def evaluate(
        self, name: str, variables: Mapping[str, Decimal]
    ) -> tuple[Decimal, list[ParamUse]]:
        """The value of the formula parameter ``name``, and every parameter it used."""
        use = self.get(name)
        if use is None:
            raise DecisionError("bad_rules", f"{self.source.ref.issuer} has no {name}")
        if use.unit != "formula":  # only a checked formula is evaluated unchecked below
            raise DecisionError("bad_rules", f"{self.source.ref.issuer}'s {name} is not a formula")
        used = [use]

        def param(p: str) -> Decimal:
            got = self.get(p)
            if got is None:
                raise KeyError(p)
            used.append(got)
            return got.value if isinstance(got.value, Decimal) else Decimal(got.value)

        try:
            value = formula.evaluate(use.value, variables, param, checked=True)
        except LedgerError as exc:
            raise DecisionError(
                "bad_rules", f"{self.source.ref.issuer}'s {name} cannot be evaluated: {exc.message}"
            ) from None
        return value, used


_TABLES: dict[tuple[Any, ...], rules.RulesTable] = {}
_LAWS: dict[tuple[Any, ...], Law] = {}
_KEEP = 64


def _parsed(source: SourcedRecord) -> rules.RulesTable:
    """The checked table of a rules record. A node or a benchmark decides for many workers
    under the same few tables: one checked is kept (by where it was proven, and only for
    the very same body object, which is never changed in place), so it is not checked again
    for every decision."""
    body = source.record["body"]
    key = tuple(source.ref)
    got = _TABLES.get(key)
    if got is not None and got.body is body:
        return got
    table = rules.RulesTable.parse(body, source.ref)
    if len(_TABLES) >= _KEEP:
        _TABLES.pop(next(iter(_TABLES)))
    _TABLES[key] = table
    return table
