"""Properties of the decision engine (hypothesis): the order of the records, and which
member's mirror supplied a copy, change nothing; the pro-rata fractions of the states
that totalise together sum to 1; no amount is negative."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from pel.ledger.portability.engine import Claim, decide
from tests.ledger.portability.kit import PWID, Logs, full_after_40_years, months, param, table, v

STATES = [("AD-INSA", "AD"), ("BB-NIS", "BB"), ("CL-IPS", "CL"), ("DK-ATP", "DK")]
AMOUNTS = ("national_amount", "theoretical_amount", "pro_rata_amount", "amount_due", "lump_sum")

spell = st.tuples(
    st.integers(1990, 2025),  # first year
    st.integers(1, 12),  # first month
    st.integers(1, 300),  # months
)
career = st.lists(st.lists(spell, min_size=0, max_size=3), min_size=2, max_size=4)


def build(spells: list, seed: int, *, minimum: int = 12):
    logs = Logs()
    rng = random.Random(seed)
    records, rules = [], []
    for (issuer, code), mine in zip(STATES, spells, strict=False):
        rules.append(
            logs.rules(
                issuer,
                table(
                    code,
                    "EUR",
                    qualifying_months=param("months", rng.choice([12, 120, 180, 240])),
                    pension_formula=param(
                        "formula", full_after_40_years(str(rng.randint(1, 2000)))
                    ),
                    lump_sum_formula=param("formula", v("contributions_total")),
                ),
            )
        )
        periods = sorted({p for y, m, k in mine for p in months(f"{y}-{m:02d}", k)})
        records += logs.contributions(issuer, "EUR", periods, paid=f"{rng.randint(0, 99)}.50")
    parties = [issuer for issuer, _ in STATES[: len(spells)]]
    agreements = logs.agreement(parties, minimum=minimum) if len(parties) > 1 else []
    return records, rules, agreements


@settings(max_examples=40, deadline=None)
@given(career, st.integers(0, 2**32), st.randoms(use_true_random=False))
def test_order_and_mirror_change_nothing(spells, seed, rnd) -> None:
    records, rules, agreements = build(spells, seed)
    claim = Claim(PWID, date(2040, 1, 1))
    first = decide(claim, records, rules, agreements).to_bytes()
    # Another member's mirror: the same records (same log, same index) in its own
    # order, some of them twice (from the log and from the mirror).
    supplied = records + rnd.sample(records, k=len(records) // 3)
    rnd.shuffle(supplied)
    law = rules + agreements
    rnd.shuffle(law)
    again = decide(
        claim,
        supplied,
        [r for r in law if r.type == "rules"],
        [r for r in law if r.type == "agreement"],
    ).to_bytes()
    assert again == first


@settings(max_examples=60, deadline=None)
@given(career, st.integers(0, 2**32), st.sampled_from([0, 12, 60]))
def test_fractions_sum_to_one_and_nothing_is_negative(spells, seed, minimum) -> None:
    records, rules, agreements = build(spells, seed, minimum=minimum)
    d = decide(Claim(PWID, date(2040, 1, 1)), records, rules, agreements)
    with_months = [s for s in d.states if s.figures["months"].value > 0]
    for s in d.states:
        for name in AMOUNTS:
            if name in s.figures:
                assert s.figures[name].value >= Decimal(0), (s.state, name)
    if len(with_months) > 1:
        total = sum(Fraction(s.figures["pro_rata_fraction"].value) for s in with_months)
        assert total == 1
    for s in with_months:
        f = s.figures
        assert f["amount_due"].value == max(f["national_amount"].value, f["pro_rata_amount"].value)
