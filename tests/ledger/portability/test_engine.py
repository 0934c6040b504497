"""The decision engine on cases worked by hand (EU Regulation 883/2004 art. 6, 52, 57;
987/2009 art. 12) with fictional states' tables defined here.

State A is coded AD, state B BB (any ISO code does: the tables are fictional).
A: full pension 800 after 40 years, 20 years (240 months) qualify.
B: full pension 1000 after 40 years, 15 years (180 months) qualify.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from pel.ledger.portability.engine import Claim, decide
from pel.ledger.portability.periods import DecisionError
from tests.ledger.portability.kit import PWID, Logs, full_after_40_years, months, n, param, table, v

AT = date(2030, 1, 1)
A, B = "AD-INSA", "BB-NIS"


def rules_ab(logs: Logs) -> list:
    return [
        logs.rules(
            A,
            table(
                "AD",
                "EUR",
                qualifying_months=param("months", 240),
                pension_age=param("years", 65),
                pension_formula=param("formula", full_after_40_years("800")),
            ),
        ),
        logs.rules(
            B,
            table(
                "BB",
                "EUR",
                qualifying_months=param("months", 180),
                pension_age=param("years", 65),
                pension_formula=param("formula", full_after_40_years("1000")),
                lump_sum_formula=param("formula", v("contributions_total")),
            ),
        ),
    ]


def fig(decision, state: str, name: str):
    return decision.state(state).figures[name].value


def test_eu_article_52_worked_example() -> None:
    """18 years in A, 24 in B; A's full pension is 800 after 40 years.

    A: 18 y alone is under its 20 y: no national pension. Totalised 42 y: theoretical
    800 (capped at 40 y); pro-rata 800 x 18/42 = 342.857… → 342.86; due 342.86.
    B: 24 y alone qualify: national 1000 x 24/40 = 600. Theoretical 1000; pro-rata
    1000 x 24/42 = 571.43; due the higher, 600.00 (art. 52(3)).
    """
    logs = Logs()
    records = logs.contributions(A, "EUR", months("1980-01", 18 * 12))
    records += logs.contributions(B, "EUR", months("1998-01", 24 * 12))
    d = decide(Claim(PWID, AT), records, rules_ab(logs), logs.agreement([A, B]))
    assert fig(d, "AD", "months") == 216
    assert fig(d, "AD", "totalised_months") == 504
    assert fig(d, "AD", "qualifies_alone") is False
    assert fig(d, "AD", "qualifies_with_totalisation") is True
    assert fig(d, "AD", "national_amount") == Decimal("0")
    assert fig(d, "AD", "theoretical_amount") == Decimal("800.00")
    assert fig(d, "AD", "pro_rata_fraction") == "3/7"  # 216/504
    assert fig(d, "AD", "pro_rata_amount") == Decimal("342.86")
    assert fig(d, "AD", "amount_due") == Decimal("342.86")
    assert fig(d, "BB", "national_amount") == Decimal("600.00")
    assert fig(d, "BB", "pro_rata_amount") == Decimal("571.43")
    assert fig(d, "BB", "amount_due") == Decimal("600.00")
    assert d.state("AD").outcome == d.state("BB").outcome == "pension"
    # Every figure names its law and its records.
    due = d.state("AD").figures["pro_rata_amount"]
    assert {p.name for p in due.params} >= {"pension_formula", "rounding"}
    assert all(p.rules is not None and p.rules.issuer == A for p in due.params)
    assert {r.issuer for r in due.records} == {A, B} and len(due.records) == 504
    assert due.agreements and due.agreements[0].id == "agreement-1"


def test_qualifies_only_with_totalisation() -> None:
    """15 y in A (under its 20), 10 y in B (under its 15): neither alone; 25 y together.

    A: theoretical 800 x 25/40 = 500; pro-rata 500 x 180/300 = 300.00.
    B: theoretical 1000 x 25/40 = 625; pro-rata 625 x 120/300 = 250.00.
    """
    logs = Logs()
    records = logs.contributions(A, "EUR", months("1990-01", 180))
    records += logs.contributions(B, "EUR", months("2005-01", 120))
    d = decide(Claim(PWID, AT), records, rules_ab(logs), logs.agreement([A, B]))
    for s in ("AD", "BB"):
        assert fig(d, s, "qualifies_alone") is False
        assert fig(d, s, "qualifies_with_totalisation") is True
    assert fig(d, "AD", "theoretical_amount") == Decimal("500.00")
    assert fig(d, "AD", "amount_due") == Decimal("300.00")
    assert fig(d, "BB", "theoretical_amount") == Decimal("625.00")
    assert fig(d, "BB", "amount_due") == Decimal("250.00")


def test_months_insured_in_two_states_count_once() -> None:
    """A 2000-01…2019-12 (240 months), B 2019-01…2030-12 (144), both in 2019.

    Totalised 240 + 144 - 12 = 372 months (31 years).
    A: qualifies alone: national 800 x 20/40 = 400. Theoretical 800 x 31/40 = 620;
    share 228 + 12 x ½ = 234; pro-rata 620 x 234/372 = 390.00; due 400.00.
    B: 144 < 180: theoretical 1000 x 31/40 = 775; share 132 + 6 = 138;
    pro-rata 775 x 138/372 = 287.50.
    """
    logs = Logs()
    records = logs.contributions(A, "EUR", months("2000-01", 240))
    records += logs.contributions(B, "EUR", months("2019-01", 144))
    d = decide(Claim(PWID, date(2031, 1, 1)), records, rules_ab(logs), logs.agreement([A, B]))
    assert fig(d, "AD", "totalised_months") == fig(d, "BB", "totalised_months") == 372
    assert fig(d, "AD", "national_amount") == Decimal("400.00")
    assert fig(d, "AD", "pro_rata_fraction") == "39/62"  # 234/372
    assert fig(d, "AD", "pro_rata_amount") == Decimal("390.00")
    assert fig(d, "AD", "amount_due") == Decimal("400.00")
    assert fig(d, "BB", "pro_rata_fraction") == "23/62"  # 138/372
    assert fig(d, "BB", "amount_due") == Decimal("287.50")
    assert "counted once" in d.state("AD").figures["totalised_months"].reason


def test_under_12_months_in_one_state() -> None:
    """30 y in A, 8 months in B; the agreement's minimum period is 12 months (art. 57).

    B pays no pension (8 < 12 and B's law alone gives none) but its lump sum, the
    contributions paid: 8 x 50 = 400.00. A counts B's months: 368 months (30 years)
    totalised, theoretical 800 x 30/40 = 600; B's months are out of A's fraction:
    360/360, pro-rata 600; national 600; due 600.00.
    """
    logs = Logs()
    records = logs.contributions(A, "EUR", months("1995-01", 360))
    records += logs.contributions(B, "EUR", months("2025-01", 8))
    d = decide(Claim(PWID, AT), records, rules_ab(logs), logs.agreement([A, B], minimum=12))
    assert fig(d, "AD", "totalised_months") == 368
    assert fig(d, "AD", "theoretical_amount") == Decimal("600.00")
    assert fig(d, "AD", "pro_rata_fraction") == "1"
    assert fig(d, "AD", "amount_due") == Decimal("600.00")
    assert fig(d, "BB", "pro_rata_fraction") == "0"
    assert fig(d, "BB", "amount_due") == Decimal("0")
    assert "art. 57" in d.state("BB").figures["pro_rata_fraction"].reason
    assert fig(d, "BB", "lump_sum") == Decimal("400.00")
    assert d.state("BB").outcome == "lump_sum"


def test_no_agreement_no_totalisation() -> None:
    """The EU example without an agreement: A (18 y < 20 y) pays nothing, and its law
    has no lump sum; B pays its national 600.00."""
    logs = Logs()
    records = logs.contributions(A, "EUR", months("1980-01", 216))
    records += logs.contributions(B, "EUR", months("1998-01", 288))
    d = decide(Claim(PWID, AT), records, rules_ab(logs), [])
    assert fig(d, "AD", "totalised_months") == 216
    assert fig(d, "AD", "qualifies_with_totalisation") is False
    assert fig(d, "AD", "amount_due") == Decimal("0")
    assert fig(d, "AD", "lump_sum") == Decimal("0")
    assert d.state("AD").outcome == "nothing"
    assert fig(d, "BB", "amount_due") == Decimal("600.00")
    assert d.state("AD").totalised_with == ("AD",)


def test_agreement_that_ended_before_the_date() -> None:
    """The same career under an agreement that ended on 2020-12-31: decided in 2030 as
    if there were none, and the decision says why the agreement did not apply."""
    logs = Logs()
    records = logs.contributions(A, "EUR", months("1980-01", 216))
    records += logs.contributions(B, "EUR", months("1998-01", 288))
    ended = logs.agreement([A, B], until="2020-12-31")
    d = decide(Claim(PWID, AT), records, rules_ab(logs), ended)
    assert fig(d, "AD", "amount_due") == Decimal("0")
    assert fig(d, "BB", "amount_due") == Decimal("600.00")
    assert d.agreements[0]["applies"] is False
    assert "ended on 2020-12-31" in d.agreements[0]["reason"]
    # Decided in 2020, the agreement applies and A pays 342.86.
    d2020 = decide(Claim(PWID, date(2020, 6, 1)), records, rules_ab(logs), ended)
    assert fig(d2020, "AD", "amount_due") == Decimal("342.86")


def test_a_withdrawal_ends_a_bilateral_agreement() -> None:
    logs = Logs()
    records = logs.contributions(A, "EUR", months("1980-01", 216))
    records += logs.contributions(B, "EUR", months("1998-01", 288))
    ag = logs.agreement([A, B])
    out = logs.record(
        B,
        "withdrawal",
        {"agreement": {"issuer": A, "id": "agreement-1"}, "effective": "2029-01-01"},
        pwid=None,
    )
    d = decide(Claim(PWID, AT), records, rules_ab(logs), [*ag, out])
    assert fig(d, "AD", "amount_due") == Decimal("0")
    assert d.agreements[0]["withdrawn"] == [B]


def test_revoked_contribution_counts_for_nothing() -> None:
    """Exactly 240 months in A qualify (national 800 x 20/40 = 400.00); one revoked
    leaves 239, under the 240: nothing."""
    logs = Logs()
    records = logs.contributions(A, "EUR", months("2000-01", 240))
    d = decide(Claim(PWID, AT), records, rules_ab(logs), [])
    assert fig(d, "AD", "amount_due") == Decimal("400.00")
    target = records[100]
    revoke = logs.record(
        A, "revocation", {"target": {"issuer": A, "id": target.ref.id}, "reason": "duplicate"}
    )
    d = decide(Claim(PWID, AT), [*records, revoke], rules_ab(logs), [])
    assert fig(d, "AD", "months") == 239
    assert fig(d, "AD", "qualifies_alone") is False
    assert fig(d, "AD", "amount_due") == Decimal("0")
    assert target.ref.id in " ".join(d.state("AD").notes)
    assert revoke.ref in d.basis


def test_amended_earnings_change_the_average() -> None:
    """State C pays 20 % of the average earnings of the last 60 months. 180 months at
    10 000; one of the last 60 amended to 16 000: average (59 x 10 000 + 16 000)/60 =
    10 100, pension 2 020.00 (2 000.00 before the amendment)."""
    logs = Logs()
    c = "CL-IPS"
    rules = [
        logs.rules(
            c,
            table(
                "CL",
                "CLP",
                qualifying_months=param("months", 180),
                reference_months=param("months", 60),
                pension_formula=param("formula", {"mul": [n("0.20"), v("average_earnings")]}),
            ),
        )
    ]
    records = logs.contributions(c, "CLP", months("2010-01", 180), earnings="10000.00")
    d = decide(Claim(PWID, AT), records, rules, [])
    assert fig(d, "CL", "amount_due") == Decimal("2000.00")
    target = records[-10]
    body = dict(target.record["body"], insured_earnings="16000.00")
    amend = logs.record(
        c,
        "amendment",
        {
            "target": {"issuer": c, "id": target.ref.id},
            "target_type": "contribution",
            "reason": "employer_correction",
            "body": body,
        },
    )
    d = decide(Claim(PWID, AT), [*records, amend], rules, [])
    assert fig(d, "CL", "amount_due") == Decimal("2020.00")
    assert amend.ref in d.state("CL").figures["amount_due"].records


def test_no_pension_branch_for_foreign_workers_lump_sum_only() -> None:
    """State S gives foreign workers no pension, only the refund of their own
    contributions: 10 years x 12 x 500 = 60 000.00; a national of S would qualify."""
    logs = Logs()
    s = "SG-CPF"
    rules = [
        logs.rules(
            s,
            table(
                "SG",
                "SGD",
                foreign_workers_covered=param("bool", False),
                qualifying_months=param("months", 120),
                pension_formula=param("formula", n("1000")),
                lump_sum_formula=param("formula", v("contributions_employee")),
            ),
        )
    ]
    records = logs.contributions(s, "SGD", months("2015-01", 120), paid="500.00")
    d = decide(Claim(PWID, AT), records, rules, [])
    st = d.state("SG")
    assert fig(d, "SG", "qualifies_alone") is False
    assert "foreign workers" in st.figures["qualifies_alone"].reason
    assert fig(d, "SG", "amount_due") == Decimal("0")
    assert fig(d, "SG", "lump_sum") == Decimal("60000.00")
    assert st.outcome == "lump_sum"
    national = "SG-7K3Q9X2M4T8V1B5N"
    records = Logs().contributions(s, "SGD", months("2015-01", 120), paid="500.00", pwid=national)
    d = decide(Claim(national, AT), records, rules, [])
    assert fig(d, "SG", "amount_due") == Decimal("1000.00")


def test_pension_age_checked_only_with_a_birth_date() -> None:
    logs = Logs()
    records = logs.contributions(A, "EUR", months("2000-01", 240))
    rules = rules_ab(logs)
    d = decide(Claim(PWID, AT), records, rules, [])
    assert d.age_checked is False
    assert "age not checked" in d.state("AD").figures["qualifies_alone"].reason
    young = decide(Claim(PWID, AT, birth_date=date(1970, 6, 1)), records, rules, [])
    assert fig(young, "AD", "amount_due") == Decimal("0")  # 59 on 2030-01-01
    old = decide(Claim(PWID, AT, birth_date=date(1964, 12, 1)), records, rules, [])
    assert fig(old, "AD", "amount_due") == Decimal("400.00")


def test_a_state_without_rules_is_reported_not_guessed() -> None:
    logs = Logs()
    records = logs.contributions("TH-SSO", "THB", months("2010-01", 100))
    d = decide(Claim(PWID, AT), records, rules_ab(logs), [])
    assert d.state("TH").outcome == "no_rules"
    assert "amount_due" not in d.state("TH").figures


def test_refused_inputs() -> None:
    logs = Logs()
    other = logs.contributions(A, "EUR", ["2020-01"], pwid="MM-0000000000000000")
    with pytest.raises(DecisionError) as exc:
        decide(Claim(PWID, AT), other, [], [])
    assert exc.value.code == "pwid_mismatch"
    rec = logs.contributions(A, "EUR", ["2020-01"])[0]
    forged = type(rec)(dict(rec.record, body={**rec.record["body"], "period": "2020-02"}), rec.ref)
    with pytest.raises(DecisionError) as exc:
        decide(Claim(PWID, AT), [rec, forged], [], [])
    assert exc.value.code == "conflicting_records"


def test_decision_is_canonical_json_with_decimal_strings() -> None:
    logs = Logs()
    records = logs.contributions(A, "EUR", months("1980-01", 216))
    records += logs.contributions(B, "EUR", months("1998-01", 288))
    d = decide(Claim(PWID, AT), records, rules_ab(logs), logs.agreement([A, B]))
    obj = d.to_obj()
    assert obj["format"] == "pel-decision/v1"
    figure = obj["states"][0]["figures"]["amount_due"]
    assert figure["value"] == "342.86"
    assert Fraction(obj["states"][0]["figures"]["pro_rata_fraction"]["value"]) == Fraction(3, 7)
    assert b"e+" not in d.to_bytes().lower() and len(d.digest()) == 64


def test_a_law_without_a_pension_formula_pays_no_pension() -> None:
    """A state whose pension branch is not paid yet (no ``pension_formula``): 200 months
    qualify, but no pension is due; its lump sum is the contributions paid, 200 x 50."""
    logs = Logs()
    m = "MM-SSB"
    rules = [
        logs.rules(
            m,
            table(
                "MM",
                "MMK",
                qualifying_months=param("months", 180),
                lump_sum_formula=param("formula", v("contributions_total")),
            ),
        )
    ]
    records = logs.contributions(m, "MMK", months("2010-01", 200))
    d = decide(Claim(PWID, AT), records, rules, [])
    assert fig(d, "MM", "qualifies_alone") is True
    assert fig(d, "MM", "amount_due") == Decimal("0")
    assert "no pension formula" in d.state("MM").figures["national_amount"].reason
    assert fig(d, "MM", "lump_sum") == Decimal("10000.00")
