"""The formula vocabulary: exact Decimal results, and refusals of anything outside it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pel.ledger.errors import FormulaError
from pel.ledger.portability.formula import check_formula, evaluate, formula_text

# Thailand's old-age pension: 20 % of the average wage + 1.5 % per year beyond 15.
TH = {
    "mul": [
        {"var": "average_earnings"},
        {
            "add": [
                {"num": "0.20"},
                {
                    "mul": [
                        {"num": "0.015"},
                        {"max": [{"num": "0"}, {"sub": [{"var": "years"}, {"num": "15"}]}]},
                    ]
                },
            ]
        },
    ]
}


def test_thai_pension_is_exact() -> None:
    got = evaluate(TH, {"average_earnings": Decimal("15000"), "years": Decimal(20)})
    assert got == Decimal("4125.000") and isinstance(got, Decimal)
    assert evaluate(TH, {"average_earnings": Decimal("10000.10"), "years": Decimal(10)}) == Decimal(
        "2000.0200"
    )


def test_conditions_params_and_floor() -> None:
    tree = {
        "if": [
            {"lt": [{"var": "months"}, {"num": "12"}]},
            {"var": "contributions_employee"},
            {"mul": [{"param": "share"}, {"floor": {"div": [{"var": "months"}, {"num": "12"}]}}]},
        ]
    }
    v = {"months": Decimal(30), "contributions_employee": Decimal("7.5")}
    assert evaluate(tree, v, {"share": Decimal("0.4")}) == Decimal("0.8")
    assert evaluate(tree, v, lambda name: Decimal(2)) == Decimal(4)
    assert evaluate(tree, {**v, "months": Decimal(3)}, {"share": Decimal(1)}) == Decimal("7.5")
    assert formula_text(tree).startswith("if months < 12 then contributions_employee")


@pytest.mark.parametrize(
    ("tree", "where"),
    [
        ({"pow": [{"num": "2"}, {"num": "3"}]}, "unknown operation"),
        ({"num": 0.2}, "decimal string"),
        ({"num": "1e3"}, "decimal string"),
        ({"var": "salary"}, "unknown variable"),
        ({"sub": [{"num": "1"}]}, "exactly 2"),
        ({"if": [{"num": "1"}, {"num": "1"}, {"num": "0"}]}, "condition"),
        ({"add": [{"ge": [{"num": "1"}, {"num": "0"}]}]}, "condition"),
        ({"num": "1", "var": "years"}, "exactly one operation"),
        ("__import__('os')", "exactly one operation"),
    ],
)
def test_refused(tree: object, where: str) -> None:
    with pytest.raises(FormulaError, match=where):
        check_formula(tree)


def test_unknown_parameter_is_named_with_its_path() -> None:
    with pytest.raises(FormulaError) as exc:
        check_formula({"add": [{"num": "1"}, {"param": "rate"}]}, params={"other"}, path="f")
    assert exc.value.path == "f.add[1].param"


def test_runtime_refusals() -> None:
    with pytest.raises(FormulaError, match="division by zero"):
        evaluate({"div": [{"num": "1"}, {"var": "months"}]}, {"months": Decimal(0)})
    with pytest.raises(FormulaError, match="not given"):
        evaluate({"var": "months"}, {})
    with pytest.raises(FormulaError, match="Decimal"):
        evaluate({"var": "months"}, {"months": 1.5})  # type: ignore[dict-item]
    deep: dict = {"num": "1"}
    for _ in range(40):
        deep = {"floor": deep}
    with pytest.raises(FormulaError, match="deep"):
        evaluate(deep, {})


@given(
    st.decimals(min_value=0, max_value=10**9, places=2),
    st.integers(min_value=0, max_value=60),
)
def test_matches_the_same_arithmetic_in_decimal(avg: Decimal, years: int) -> None:
    expected = avg * (Decimal("0.20") + Decimal("0.015") * max(0, years - 15))
    assert evaluate(TH, {"average_earnings": avg, "years": Decimal(years)}) == expected
