"""Scheme rules: one state's social-security law as a table of dated, sourced parameters.

A ``rules`` record's body is a table in the ``pel-rules/v1`` format (kept in the
repository as YAML, ``ledger/portability/tables/XX.yaml``; published as JSON)::

    format: pel-rules/v1
    state: TH                       # ISO 3166-1 alpha-2: the issuer's own state
    scheme: Social Security Fund (Social Security Act B.E. 2533)
    currency: THB                   # ISO 4217
    notes: [what the table leaves out, and why]
    branches:
      old_age:                      # old_age, invalidity, survivors, employment_injury, …
        notes: [...]
        parameters:
          qualifying_months:
            unit: months            # bool months years ratio money formula text
            values:                 # sorted by ``from``; the value in force at D is the
              - from: 1998-12-31    # last one with from <= D
                value: 180
                sources:            # at least one, each with its status
                  - {instrument: Social Security Act B.E. 2533, article: s.77 bis,
                     url: https://…, read: 2026-12-07, status: verified}

Units: ``bool``; ``months`` (an integer); ``years`` (an integer or a decimal string,
``"61.25"``); ``ratio`` (a decimal string from 0 to 1); ``money`` (a non-negative
decimal string in the table's currency); ``formula`` (a tree, see
:mod:`pel.ledger.portability.formula`); ``text``. The parameters the decision engine
reads have a fixed unit (``KNOWN_UNITS``); a table may add others.

``check_table`` refuses a table with the dotted path of the first bad field, so a person
sees exactly where it is wrong. ``param_at`` gives the value in force at a date with its
sources. Everything here is pure: no file, clock or database.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pel.ledger.errors import FormulaError, RulesError
from pel.ledger.portability.formula import check_formula
from pel.ledger.records.fields import COUNTRIES, CURRENCIES

FORMAT = "pel-rules/v1"

BRANCHES: tuple[str, ...] = (
    "old_age",
    "invalidity",
    "survivors",
    "employment_injury",
    "sickness",
    "maternity",
    "unemployment",
    "health",
)
UNITS: frozenset[str] = frozenset({"bool", "months", "years", "ratio", "money", "formula", "text"})

#: Parameters the decision engine reads, and the one unit each must have.
KNOWN_UNITS: dict[str, str] = {
    "foreign_workers_covered": "bool",
    "nationals_covered": "bool",
    "foreign_workers_min_contract_months": "months",
    "qualifying_months": "months",
    "pension_age": "years",
    "pension_age_women": "years",
    "early_pension_age": "years",
    "reference_months": "months",
    "pension_formula": "formula",
    "minimum_pension": "money",
    "maximum_pension": "money",
    "lump_sum_formula": "formula",
    "lump_sum_on_leaving": "bool",
    "paid_abroad": "bool",
    "rounding": "money",
    "employee_rate": "ratio",
    "employer_rate": "ratio",
    "state_rate": "ratio",
    "contribution_floor": "money",
    "contribution_ceiling": "money",
    "benefit": "text",
    "branch_in_force": "bool",
}
STATUSES = ("verified", "unverified")

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,17})(\.[0-9]{1,8})?")
_URL = re.compile(r"https?://[^\s]{3,2000}")
_TOP = {"format", "state", "scheme", "currency", "notes", "branches"}
_SOURCE = {"instrument", "article", "url", "read", "status"}


def _fail(path: str, message: str, code: str = "bad_rules") -> RulesError:
    return RulesError(f"{path}: {message}" if path else message, code=code, field=path or None)


def _keys(obj: object, path: str, required: set[str], allowed: set[str]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(path, "must be an object (a mapping of fields)", "wrong_type")
    for key in obj:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise _fail(
                where,
                f"unknown field; expected one of {', '.join(sorted(allowed))}",
                "unknown_field",
            )
    for key in sorted(required - set(obj)):
        where = f"{path}.{key}" if path else key
        raise _fail(where, "missing", "missing_field")
    return obj


def _text(value: object, path: str, *, limit: int = 2000) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _fail(path, f"must be a non-empty text of at most {limit} characters", "wrong_type")
    return value


def _date(value: object, path: str) -> str:
    try:
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise ValueError
        dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(path, f"{value!r} is not a date: YYYY-MM-DD", "bad_date") from None
    return value


def _notes(value: object, path: str) -> None:
    items = value if isinstance(value, list) else [value]
    for i, note in enumerate(items):
        _text(note, f"{path}[{i}]" if isinstance(value, list) else path)


def check_value(unit: str, value: object, path: str, params: set[str]) -> None:
    """Refuse a value that is not of ``unit`` (see the module docstring).

    Raises:
        RulesError: ``wrong_unit`` (or ``bad_formula``) at ``path``.
    """

    def wrong(what: str) -> RulesError:
        return _fail(path, f"{value!r} is not {what} (unit {unit!r})", "wrong_unit")

    if unit == "bool":
        if not isinstance(value, bool):
            raise wrong("true or false")
    elif unit == "months":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2400:
            raise wrong("a whole number of months from 0 to 2400")
    elif unit == "years":
        ok = (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 150) or (
            isinstance(value, str) and _DECIMAL.fullmatch(value) and Decimal(value) <= 150
        )
        if not ok:
            raise wrong('a number of years: an integer or a decimal string such as "61.25"')
    elif unit == "ratio":
        if not isinstance(value, str) or not _DECIMAL.fullmatch(value) or Decimal(value) > 1:
            raise wrong('a ratio: a decimal string from "0" to "1", e.g. "0.05" for 5 %')
    elif unit == "money":
        if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
            raise wrong('an amount: a non-negative decimal string such as "17500.00"')
    elif unit == "formula":
        try:
            check_formula(value, params=params, path=path)
        except FormulaError as exc:
            raise _fail(exc.path or path, exc.message.split(": ", 1)[-1], "bad_formula") from None
    elif unit == "text":
        _text(value, path)


def _check_source(src: object, path: str) -> None:
    _keys(src, path, _SOURCE, _SOURCE)
    assert isinstance(src, dict)
    for key in ("instrument", "article"):
        _text(src[key], f"{path}.{key}")
    if not isinstance(src["url"], str) or not _URL.fullmatch(src["url"]):
        raise _fail(f"{path}.url", "must be an http(s) URL", "bad_source")
    _date(src["read"], f"{path}.read")
    if src["status"] not in STATUSES:
        raise _fail(f"{path}.status", "must be 'verified' or 'unverified'", "bad_source")


def _check_parameter(name: str, param: object, path: str, names: set[str]) -> None:
    if not _NAME.fullmatch(name):
        raise _fail(path, "a parameter name is snake_case (a-z, 0-9, _)", "bad_name")
    _keys(param, path, {"unit", "values"}, {"unit", "values", "notes"})
    assert isinstance(param, dict)
    unit = param["unit"]
    if unit not in UNITS:
        raise _fail(
            f"{path}.unit", f"unknown unit {unit!r}; known: {', '.join(sorted(UNITS))}", "bad_unit"
        )
    if name in KNOWN_UNITS and unit != KNOWN_UNITS[name]:
        raise _fail(
            f"{path}.unit", f"{name} is in {KNOWN_UNITS[name]!r}, not {unit!r}", "wrong_unit"
        )
    if "notes" in param:
        _notes(param["notes"], f"{path}.notes")
    values = param["values"]
    if not isinstance(values, list) or not values:
        raise _fail(f"{path}.values", "must be a non-empty list of dated values", "wrong_type")
    previous = ""
    for i, entry in enumerate(values):
        at = f"{path}.values[{i}]"
        _keys(entry, at, {"from", "value", "sources"}, {"from", "value", "sources", "notes"})
        start = _date(entry["from"], f"{at}.from")
        if start <= previous:
            raise _fail(
                f"{at}.from",
                f"values must be in increasing order of 'from' "
                f"({start} does not follow {previous})",
                "bad_order",
            )
        previous = start
        check_value(unit, entry["value"], f"{at}.value", names)
        sources = entry["sources"]
        if not isinstance(sources, list) or not sources:
            raise _fail(
                f"{at}.sources",
                "every value needs at least one source (instrument, article, url, read, status)",
                "missing_source",
            )
        for j, src in enumerate(sources):
            _check_source(src, f"{at}.sources[{j}]")
        if "notes" in entry:
            _notes(entry["notes"], f"{at}.notes")


def check_table(body: object) -> Mapping[str, Any]:
    """Check a ``pel-rules/v1`` table (as decoded JSON, dates as strings).

    Returns:
        The same mapping, unchanged.

    Raises:
        RulesError: the first problem, with ``field`` the dotted path of the field.
    """
    table = _keys(body, "", {"format", "state", "scheme", "currency", "branches"}, _TOP)
    if table["format"] != FORMAT:
        raise _fail("format", f"must be {FORMAT!r}", "bad_format")
    if table["state"] not in COUNTRIES:
        raise _fail("state", f"{table['state']!r} is not an ISO 3166-1 alpha-2 code", "bad_country")
    _text(table["scheme"], "scheme", limit=300)
    if table["currency"] not in CURRENCIES:
        raise _fail("currency", f"{table['currency']!r} is not an ISO 4217 code", "bad_currency")
    if "notes" in table:
        _notes(table["notes"], "notes")
    branches = table["branches"]
    if not isinstance(branches, dict) or not branches:
        raise _fail("branches", "must name at least one branch", "wrong_type")
    for branch, content in branches.items():
        path = f"branches.{branch}"
        if branch not in BRANCHES:
            raise _fail(path, f"unknown branch; known: {', '.join(BRANCHES)}", "unknown_branch")
        _keys(content, path, {"parameters"}, {"parameters", "notes"})
        if "notes" in content:
            _notes(content["notes"], f"{path}.notes")
        params = content["parameters"]
        if not isinstance(params, dict) or not params:
            raise _fail(f"{path}.parameters", "must hold at least one parameter", "wrong_type")
        names = set(params)
        for name, param in params.items():
            _check_parameter(str(name), param, f"{path}.parameters.{name}", names)
    return body  # type: ignore[return-value]


@dataclass(frozen=True)
class RulesTable:
    """A checked table, and the record that published it (None for a file)."""

    body: Mapping[str, Any]
    ref: Any = None  # a portability ProvenRef, or (issuer, id), when read from a log

    @classmethod
    def parse(cls, body: object, ref: Any = None) -> RulesTable:
        return cls(check_table(body), ref)

    @property
    def state(self) -> str:
        return str(self.body["state"])

    @property
    def currency(self) -> str:
        return str(self.body["currency"])

    def branches(self) -> list[str]:
        return list(self.body["branches"])

    def parameters(self, branch: str) -> list[str]:
        return list(self.body["branches"].get(branch, {}).get("parameters", {}))


@dataclass(frozen=True)
class ResolvedParam:
    """A parameter's value in force at a date, with its unit, start and sources.

    ``value`` is typed by the unit: ``bool``, ``int`` (months), ``Decimal`` (years,
    ratio, money), the formula tree (a dict) or ``str`` (text).
    """

    name: str
    value: Any
    unit: str
    from_: str
    sources: tuple[Mapping[str, str], ...]
    rules_ref: Any = None

    @property
    def verified(self) -> bool:
        """Whether every source of this value is marked ``verified``."""
        return all(s["status"] == "verified" for s in self.sources)


def typed_value(unit: str, value: Any) -> Any:
    """A stored value as the type its unit gives it (Decimal for years, ratio, money)."""
    if unit in ("years", "ratio", "money"):
        return Decimal(str(value))
    return value


def _as_date(at: dt.date | str) -> str:
    return at.isoformat() if isinstance(at, dt.date) else _date(at, "at")


def find_param_at(
    table: RulesTable, branch: str, name: str, at: dt.date | str
) -> ResolvedParam | None:
    """The value of ``branch.name`` in force at ``at``; None when the table has no such
    parameter or none of its values is in force yet."""
    day = _as_date(at)
    param = table.body["branches"].get(branch, {}).get("parameters", {}).get(name)
    if param is None:
        return None
    current = None
    for entry in param["values"]:
        if entry["from"] <= day:
            current = entry
    if current is None:
        return None
    return ResolvedParam(
        name,
        typed_value(param["unit"], current["value"]),
        param["unit"],
        current["from"],
        tuple(current["sources"]),
        table.ref,
    )


def param_at(table: RulesTable, branch: str, name: str, at: dt.date | str) -> ResolvedParam:
    """:func:`find_param_at`, raising when there is no value in force.

    Raises:
        RulesError: ``no_parameter`` (the table lacks it) or ``not_in_force``.
    """
    got = find_param_at(table, branch, name, at)
    if got is not None:
        return got
    path = f"branches.{branch}.parameters.{name}"
    if name not in table.parameters(branch):
        raise _fail(path, f"the {table.state} table has no such parameter", "no_parameter")
    raise _fail(path, f"no value in force on {_as_date(at)}", "not_in_force")


def table_at(table: RulesTable, at: dt.date | str) -> dict[str, dict[str, ResolvedParam]]:
    """Every parameter in force at ``at``, by branch and name (what ``pel rules show`` prints)."""
    out: dict[str, dict[str, ResolvedParam]] = {}
    for branch in table.branches():
        got = {n: find_param_at(table, branch, n, at) for n in table.parameters(branch)}
        out[branch] = {n: p for n, p in got.items() if p is not None}
    return out


def plain_yaml(value: Any) -> Any:
    """YAML's dates (and times) as the ISO strings the JSON body carries; everything else
    as it is (a float stays a float, and the unit check refuses it)."""
    if isinstance(value, dict):
        return {str(k): plain_yaml(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_yaml(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def parse_yaml(text: str) -> Any:
    """A table's YAML text as the JSON value a ``rules`` record carries.

    Raises:
        RulesError: ``bad_yaml``.
    """
    import yaml

    try:
        return plain_yaml(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise RulesError(f"not a YAML document{line}: {exc}", code="bad_yaml") from None


__all__ = [
    "BRANCHES",
    "FORMAT",
    "KNOWN_UNITS",
    "UNITS",
    "ResolvedParam",
    "RulesTable",
    "check_table",
    "check_value",
    "find_param_at",
    "param_at",
    "parse_yaml",
    "table_at",
    "typed_value",
]
