"""Rules tables: the ten shipped tables validate with a source for every value; a bad table
is refused with the path of the field; the value in force at a date."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from pel.ledger.errors import RulesError
from pel.ledger.portability.formula import evaluate
from pel.ledger.portability.rules import (
    KNOWN_UNITS,
    RulesTable,
    check_table,
    find_param_at,
    param_at,
    parse_yaml,
)
from pel.ledger.portability.shipped import ASEAN_STATES, shipped_states, shipped_table
from pel.ledger.records.fields import CURRENCIES

CURRENCY = {
    "BN": "BND", "ID": "IDR", "KH": "KHR", "LA": "LAK", "MM": "MMK",
    "MY": "MYR", "PH": "PHP", "SG": "SGD", "TH": "THB", "VN": "VND",
}  # fmt: skip


def test_all_ten_states_are_shipped() -> None:
    assert shipped_states() == sorted(ASEAN_STATES)
    assert len(ASEAN_STATES) == 10


@pytest.mark.parametrize("state", ASEAN_STATES)
def test_each_shipped_table_validates_and_sources_every_value(state: str) -> None:
    body = shipped_table(state)
    assert check_table(body) is body
    assert body["state"] == state and body["currency"] == CURRENCY[state] in CURRENCIES
    assert "old_age" in body["branches"]
    count = 0
    for branch in body["branches"].values():
        for name, param in branch["parameters"].items():
            if name in KNOWN_UNITS:
                assert param["unit"] == KNOWN_UNITS[name]
            for value in param["values"]:
                count += 1
                assert value["sources"], (state, name)
                for src in value["sources"]:
                    assert src["status"] in ("verified", "unverified")
                    assert src["url"].startswith(("http://", "https://"))
                    assert src["instrument"] and src["article"]
                    assert src["read"] == "2026-12-07"
    assert count >= 5


@pytest.mark.parametrize("state", ["SG", "BN", "MY"])
def test_states_without_a_pension_for_foreign_workers_say_so(state: str) -> None:
    table = RulesTable.parse(shipped_table(state))
    covered = param_at(table, "old_age", "foreign_workers_covered", "2026-12-07")
    assert covered.value is False and covered.sources


def test_malaysia_gives_the_epf_savings_on_leaving() -> None:
    table = RulesTable.parse(shipped_table("MY"))
    assert param_at(table, "old_age", "lump_sum_on_leaving", "2025-10-01").value is True
    assert find_param_at(table, "old_age", "lump_sum_on_leaving", "2025-09-30") is None
    formula = param_at(table, "old_age", "lump_sum_formula", "2026-01-01").value
    got = evaluate(formula, {"contributions_total": Decimal("1234.56")})
    assert got == Decimal("1234.56")


def test_viet_nam_minimum_period_changes_on_1_july_2025() -> None:
    table = RulesTable.parse(shipped_table("VN"))
    before = param_at(table, "old_age", "qualifying_months", dt.date(2025, 6, 30))
    after = param_at(table, "old_age", "qualifying_months", "2025-07-01")
    assert (before.value, before.from_) == (240, "2016-01-01")
    assert (after.value, after.from_) == (180, "2025-07-01")
    assert after.verified
    age = param_at(table, "old_age", "pension_age", "2026-03-01")
    assert age.value == Decimal("61.5") and age.unit == "years"


def test_thai_pension_from_the_table() -> None:
    table = RulesTable.parse(shipped_table("TH"))
    p = param_at(table, "old_age", "pension_formula", "2026-12-07")
    assert evaluate(p.value, {"average_earnings": Decimal(15000), "years": Decimal(20)}) == Decimal(
        "4125.000"
    )
    assert param_at(table, "old_age", "contribution_ceiling", "2029-01-01").value == Decimal(20000)


def test_missing_values_and_parameters() -> None:
    table = RulesTable.parse(shipped_table("VN"))
    with pytest.raises(RulesError) as exc:
        param_at(table, "old_age", "qualifying_months", "2010-01-01")
    assert exc.value.code == "not_in_force"
    with pytest.raises(RulesError) as exc:
        param_at(table, "old_age", "no_such_thing", "2026-01-01")
    assert exc.value.code == "no_parameter"


def _bad(change: Any) -> RulesError:
    body = copy.deepcopy(shipped_table("TH"))
    change(body)
    with pytest.raises(RulesError) as exc:
        check_table(body)
    return exc.value


QM = "branches.old_age.parameters.qualifying_months"


def test_a_value_without_a_source_is_refused_with_its_path() -> None:
    def drop(body: dict) -> None:
        body["branches"]["old_age"]["parameters"]["qualifying_months"]["values"][0]["sources"] = []

    err = _bad(drop)
    assert err.code == "missing_source"
    assert err.field == f"{QM}.values[0].sources"
    assert err.field in err.message

    def no_key(body: dict) -> None:
        del body["branches"]["old_age"]["parameters"]["pension_age"]["values"][0]["sources"]

    err = _bad(no_key)
    assert (err.code, err.field) == (
        "missing_field",
        "branches.old_age.parameters.pension_age.values[0].sources",
    )


@pytest.mark.parametrize(
    ("value", "unit"),
    [("180", "months"), (180.0, "months"), (15.5, "months"), (True, "months"), (-1, "months")],
)
def test_a_value_in_the_wrong_unit_is_refused_with_its_path(value: object, unit: str) -> None:
    def put(body: dict) -> None:
        body["branches"]["old_age"]["parameters"]["qualifying_months"]["values"][0]["value"] = value

    err = _bad(put)
    assert err.code == "wrong_unit"
    assert err.field == f"{QM}.values[0].value"


@pytest.mark.parametrize(
    ("name", "value"),
    [("employee_rate", 0.03), ("employee_rate", "3"), ("contribution_ceiling", 17500),
     ("pension_age", "fifty-five"), ("pension_formula", {"var": "wage"})],
)  # fmt: skip
def test_other_units(name: str, value: object) -> None:
    def put(body: dict) -> None:
        body["branches"]["old_age"]["parameters"][name]["values"][0]["value"] = value

    err = _bad(put)
    assert err.code in ("wrong_unit", "bad_formula")
    assert err.field is not None
    assert err.field.startswith(f"branches.old_age.parameters.{name}.values[0].value")


def test_a_known_parameter_in_another_unit_is_refused() -> None:
    def put(body: dict) -> None:
        body["branches"]["old_age"]["parameters"]["qualifying_months"]["unit"] = "years"

    err = _bad(put)
    assert (err.code, err.field) == ("wrong_unit", f"{QM}.unit")


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        (lambda b: b.update(format="pel-rules/v0"), "bad_format", "format"),
        (lambda b: b.update(state="XX"), "bad_country", "state"),
        (lambda b: b.update(currency="BAHT"), "bad_currency", "currency"),
        (lambda b: b.update(extra=1), "unknown_field", "extra"),
        (lambda b: b["branches"].update(pensions={}), "unknown_branch", "branches.pensions"),
        (
            lambda b: b["branches"]["old_age"]["parameters"]["qualifying_months"]["values"][0][
                "sources"
            ][0].update(status="probably"),
            "bad_source",
            f"{QM}.values[0].sources[0].status",
        ),
        (
            lambda b: b["branches"]["old_age"]["parameters"]["contribution_ceiling"][
                "values"
            ].reverse(),
            "bad_order",
            "branches.old_age.parameters.contribution_ceiling.values[1].from",
        ),
    ],
)
def test_refusals_name_the_field(change: Any, code: str, field: str) -> None:
    err = _bad(change)
    assert (err.code, err.field) == (code, field)


def test_yaml_parsing() -> None:
    assert parse_yaml("a: 2026-12-07\n") == {"a": "2026-12-07"}
    with pytest.raises(RulesError) as exc:
        parse_yaml("a: [\n")
    assert exc.value.code == "bad_yaml"
