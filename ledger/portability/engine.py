"""The entitlement decision engine: verified records, rules and agreements in, a
decision out. Pure: no database, clock or network, like the verifiers in ``ledger/``.

``decide(claim, records, rules, agreements)`` follows EU Regulation 883/2004 (and its
implementing Regulation 987/2009) as the model, for every state where the worker has
insured months in the benefit's branch:

1. **Months** (987/2009 art. 12): the state's own insured months, corrections applied
   (``periods.apply_corrections``). Periods of other states are added only where they
   do not coincide, so the *totalised months* of a state are the union of the calendar
   months of every state it totalises with: a month insured in two states counts once.
2. **Qualification** (883/2004 art. 6): alone, the state's own months against its
   ``qualifying_months`` (and, with a birth date, its ``pension_age``; a state whose
   ``foreign_workers_covered`` is false pays a foreign worker no pension); with
   totalisation, the months of every state that is party with it to an agreement in
   force on the decision date that covers the branch and totalises.
3. **Amounts** (art. 52): the national amount (the state's ``pension_formula`` over its
   own months, if it qualifies alone); the theoretical amount (the same formula over the
   totalised months, as if all were its own); the pro-rata amount, theoretical x
   the state's share of the months / the totalised months; the amount due, the higher
   of the national and the pro-rata amount (art. 52(3)). ``minimum_pension`` and
   ``maximum_pension`` bound the national and the theoretical amount.
4. **Short periods** (art. 57): a state where the worker has fewer months than the
   agreement's ``minimum_period_months`` pays no pension under the agreement unless its
   own law alone gives one; its months still count for the others' qualification and
   theoretical amount, and are left out of their pro-rata fractions, so the fractions
   of the states that pay still sum to 1 (unless every state would be short: then the
   rule is not applied, as in art. 57(3)).
5. **Lump sum**: where no pension is due and the law has a ``lump_sum_formula``, the
   lump sum over the state's own months.

Shares of a month: a calendar month insured in k states that totalise together counts
1/k in each one's pro-rata share, so no state gains by the order records arrive in and
the fractions sum to 1. Money is ``Decimal``; each amount is rounded to the state's
``rounding`` quantum (ROUND_HALF_UP) once, at the end (the pro-rata is computed from the
unrounded theoretical amount).

The decision depends only on the inputs' content: the order of records, or which
member's mirror supplied a copy, changes nothing (a record counts once by issuer and id).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import chain
from operator import itemgetter, methodcaller
from typing import Any

from pel.ledger.portability import agreements as terms
from pel.ledger.portability.decision import Decision, Figure, ParamUse, StateDecision
from pel.ledger.portability.law import Law
from pel.ledger.portability.periods import (
    DecisionError,
    ProvenRef,
    SourcedRecord,
    StateCareer,
    apply_corrections,
    careers,
)
from pel.ledger.records.corrections import CORRECTIONS, REVOKED

ZERO = Decimal(0)


@dataclass(frozen=True)
class Claim:
    """What is asked: the worker, the branch (``old_age``), the decision date and,
    when known, the birth date (without it the pension age is not checked)."""

    pwid: str
    at: date
    benefit: str = "old_age"
    birth_date: date | None = None


@dataclass(frozen=True)
class _Agreement:
    ref: ProvenRef
    key: tuple[str, str]
    parties: tuple[str, ...]
    states: frozenset[str]
    minimum: int
    title: str


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _agreements(
    claim: Claim, supplied: Iterable[SourcedRecord]
) -> tuple[list[_Agreement], list[dict[str, Any]]]:
    """The agreements that totalise the branch on the date, and every agreement
    considered with why it applies or not."""
    copies: dict[tuple[str, str], list[SourcedRecord]] = {}
    withdrawals: list[dict[str, Any]] = []
    for s in supplied:
        if s.type == "agreement":
            copies.setdefault((s.ref.issuer, s.ref.id), []).append(s)
        elif s.type == "withdrawal":
            withdrawals.append(dict(s.record))
    applied: list[_Agreement] = []
    report: list[dict[str, Any]] = []
    for key in sorted(copies):
        group = copies[key]
        first = min(group, key=lambda s: s.ref)
        if any(s.record != first.record for s in group):
            raise DecisionError(
                "conflicting_records", f"two different agreements {key[0]}/{key[1]} supplied"
            )
        body = first.record["body"]
        staying = tuple(sorted(terms.parties_at(first.record, withdrawals, claim.at)))
        gone = sorted(set(body["parties"]) - set(staying))
        title = str(body["legal_text"]["title"])
        why = ""
        if not terms.in_force(first.record, withdrawals, claim.at):
            start, until = body["in_force_from"], body.get("until")
            why = (
                f"not yet in force on {claim.at} (from {start})"
                if claim.at.isoformat() < start
                else f"ended on {until}, before {claim.at}"
                if until is not None and claim.at.isoformat() >= until
                else "withdrawn: fewer than two parties remain"
            )
        elif claim.benefit not in body["branches"]:
            why = f"does not cover the {claim.benefit} branch"
        elif body["totalisation"] is not True:
            why = "does not totalise insurance periods"
        entry: dict[str, Any] = {
            "agreement": first.ref.to_obj(),
            "title": title,
            "parties": list(staying),
            "applies": not why,
            "reason": why or f"in force on {claim.at}, covers {claim.benefit}, totalises",
        }
        if gone:
            entry["withdrawn"] = gone
        report.append(entry)
        if not why:
            minimum = body.get("minimum_period_months") or 0
            applied.append(
                _Agreement(
                    first.ref,
                    key,
                    staying,
                    frozenset(p[:2] for p in staying),
                    int(minimum),
                    title,
                )
            )
    return applied, report


def _rules_by_state(rules: Iterable[SourcedRecord]) -> dict[str, SourcedRecord]:
    """Each state's newest rules record (its log's highest index): the table in force.
    A state's rules count only when its own agency issued them."""
    newest: dict[str, SourcedRecord] = {}
    for s in rules:
        if s.type != "rules":
            continue
        state = s.record["body"].get("state")
        if state != s.state:
            continue  # only the state itself publishes its law
        old = newest.get(state)
        if old is None or (s.ref.origin, s.ref.index) > (old.ref.origin, old.ref.index):
            newest[state] = s
    return newest


_LawAt = tuple[dict[str, Law], list[_Agreement], list[dict[str, Any]]]
_LAW_AT: dict[tuple[Any, ...], tuple[tuple[SourcedRecord, ...], _LawAt]] = {}
_KEEP = 16


def _law_at(
    claim: Claim, rules: Iterable[SourcedRecord], agreements: Iterable[SourcedRecord]
) -> _LawAt:
    """Each state's law and the agreements that apply, on the claim's date and branch.

    An agency decides for many workers on one date under the same rules and agreement
    records: what they say is worked out once and kept, by the identity of those very
    records (the kept entry holds them, so no other object can take their ids; a record
    is never changed in place)."""
    rules, agreements = tuple(rules), tuple(agreements)
    key = (claim.at, claim.benefit, *map(id, rules), None, *map(id, agreements))
    got = _LAW_AT.get(key)
    if got is None:
        laws = {
            state: Law.of(src, claim.benefit, claim.at)
            for state, src in _rules_by_state(rules).items()
        }
        applied, report = _agreements(claim, agreements)
        got = _LAW_AT[key] = ((*rules, *agreements), (laws, applied, report))
        if len(_LAW_AT) > _KEEP:
            _LAW_AT.pop(next(iter(_LAW_AT)))
    laws, applied, report = got[1]
    return laws, applied, [dict(entry) for entry in report]  # the decision's own copies


class _StateCalc:
    """The figures of one state, built step by step."""

    def __init__(self, claim: Claim, career: StateCareer, law: Law, home: str) -> None:
        self.claim = claim
        self.career = career
        self.law = law
        self.home = home
        self.refs = career.refs
        self.own = len(career.months)
        self.sums: dict[str, Decimal] = {}

    def param(self, name: str) -> ParamUse | None:
        return self.law.get(name)

    def round(self, value: Decimal) -> tuple[Decimal, list[ParamUse]]:
        p = self.param("rounding")
        quantum = Decimal(str(p.value)) if p else Decimal("0.01")
        return value.quantize(quantum, rounding=ROUND_HALF_UP), [p] if p else []

    def variables(self, months: int) -> Mapping[str, Decimal]:
        """The formula variables (see ``formula.VARIABLES``) over ``months`` insurance
        months and this state's own records; each worked out when a formula reads it."""
        return _Variables(self, months, self.sums)

    def pension(self, months: int) -> tuple[Decimal, list[ParamUse]]:
        """The pension formula over ``months``, within the minimum and maximum."""
        value, used = self.law.evaluate("pension_formula", self.variables(months))
        if self.param("reference_months"):
            used.append(self.param("reference_months"))  # type: ignore[arg-type]
        low, high = self.param("minimum_pension"), self.param("maximum_pension")
        if low is not None:
            value = max(value, Decimal(str(low.value)))
            used.append(low)
        if high is not None:
            value = min(value, Decimal(str(high.value)))
            used.append(high)
        return max(value, ZERO), used

    def age_ok(self) -> tuple[bool | None, list[ParamUse], str]:
        """Whether the pension age is reached on the date (None: no birth date given)."""
        p = self.param("pension_age")
        if p is None:
            return True, [], "the law sets no pension age"
        if self.claim.birth_date is None:
            return None, [p], "age not checked (no birth date given)"
        months = int((Decimal(str(p.value)) * 12).to_integral_value(rounding=ROUND_HALF_UP))
        reached = _add_months(self.claim.birth_date, months)
        ok = reached <= self.claim.at
        word = "reached" if ok else "not reached"
        return ok, [p], f"pension age {p.value} {word} on {self.claim.at} (reached {reached})"

    def covered(self) -> tuple[bool, list[ParamUse]]:
        """Whether the state's pension branch covers this worker (foreign or not)."""
        if self.career.state == self.home:
            return True, []
        p = self.param("foreign_workers_covered")
        if p is None:
            return True, []
        return bool(p.value), [p]


class _Variables(Mapping[str, Decimal]):
    """The variables a formula may read (``formula.VARIABLES``), computed when read.

    Only ``months`` and ``years`` depend on the months the formula is evaluated over;
    the others are sums over the state's own records, worked out once per state and
    kept in ``sums`` (the national, theoretical and lump-sum formulas share them)."""

    NAMES = (
        "months",
        "years",
        "average_earnings",
        "total_earnings",
        "contributions_employee",
        "contributions_total",
    )

    def __init__(self, calc: _StateCalc, months: int, sums: dict[str, Decimal]) -> None:
        self.calc = calc
        self.months = months
        self.sums = sums

    def __iter__(self) -> Iterator[str]:
        return iter(self.NAMES)

    def __len__(self) -> int:
        return len(self.NAMES)

    def __getitem__(self, name: str) -> Decimal:
        if name == "months":
            return Decimal(self.months)
        if name == "years":
            return Decimal(self.months // 12)
        got = self.sums.get(name)
        if got is None:
            got = self.sums[name] = self._sum(name)
        return got

    def _sum(self, name: str) -> Decimal:
        # map() over itemgetters: the figures of a career are summed in C, not in a
        # Python loop per record (hundreds of Decimals per formula).
        own = self.calc.career.months
        if name == "average_earnings":
            ref = self.calc.param("reference_months")
            periods = sorted(own)
            last = periods[-int(ref.value) :] if ref and int(ref.value) > 0 else periods
            if not last:
                return ZERO
            bodies = chain.from_iterable(map(own.__getitem__, last))
            return sum(map(Decimal, map(_EARNINGS, bodies)), ZERO) / len(last)
        bodies = chain.from_iterable(own.values())
        if name == "total_earnings":
            return sum(map(Decimal, map(_EARNINGS, bodies)), ZERO)
        paid = map(_CONTRIBUTIONS, bodies)
        if name == "contributions_employee":
            # The branch's contribution as recorded (a record does not split the shares).
            return sum(map(Decimal, map(itemgetter(self.calc.claim.benefit), paid)), ZERO)
        if name == "contributions_total":
            every = chain.from_iterable(map(_VALUES, paid))
            return sum(map(Decimal, every), ZERO)
        raise KeyError(name)


_EARNINGS = itemgetter("insured_earnings")
_CONTRIBUTIONS = itemgetter("contributions")
_VALUES = methodcaller("values")


def _dedupe(params: Iterable[ParamUse | None]) -> tuple[ParamUse, ...]:
    seen: dict[str, ParamUse] = {}
    for p in params:
        if p is not None and p.name not in seen:
            seen[p.name] = p
    return tuple(seen.values())


def decide(
    claim: Claim,
    records: Iterable[SourcedRecord],
    rules: Iterable[SourcedRecord],
    agreements: Iterable[SourcedRecord],
) -> Decision:
    """Decide ``claim`` from verified records, rules records and agreement records.

    Args:
        claim: The worker, branch, decision date and (optional) birth date.
        records: The worker's verified records with where each was proven (enrolment,
            contributions, amendments, revocations; entitlements are not read).
        rules: Published ``rules`` records (each state's newest one applies).
        agreements: ``agreement`` and ``withdrawal`` records.

    Returns:
        The decision, with a :class:`StateDecision` for every state where the worker
        has insured months (or only revoked ones) in the branch.

    Raises:
        DecisionError: a record of another worker, conflicting copies of a record, or
            a rules table that cannot be read.
    """
    corrected = apply_corrections(records, claim.pwid)
    by_state = careers(corrected, claim.benefit)
    home = claim.pwid[:2]
    for kind, status, body in zip(corrected.types, corrected.status, corrected.body, strict=True):
        if kind == "enrolment" and status != REVOKED:
            home = str(body.get("home_country", home))
    laws, applied, agreement_report = _law_at(claim, rules, agreements)
    months = {s: set(c.months) for s, c in by_state.items()}
    state_refs = {s: c.refs for s, c in by_state.items()}
    group_refs: dict[tuple[str, ...], tuple[ProvenRef, ...]] = {}

    def refs_of(group: Sequence[str]) -> tuple[ProvenRef, ...]:
        """The records of every state of a group, in log order (states of one group
        share the tuple: it is built once per group, not once per state)."""
        key = tuple(group)
        got = group_refs.get(key)
        if got is None:
            got = group_refs[key] = (
                state_refs[key[0]]
                if len(key) == 1
                else tuple(sorted([r for g in key for r in state_refs[g]]))  # disjoint runs
            )
        return got

    def partners(state: str) -> tuple[list[_Agreement], list[str]]:
        ags = [a for a in applied if state in a.states]
        group = sorted({s for a in ags for s in a.states} | {state})
        return ags, group

    calcs = {
        s: _StateCalc(claim, c, laws[s], home)
        for s, c in by_state.items()
        if s in laws and laws[s].has_branch and c.months
    }

    # Who qualifies alone (needed before the art. 57 rule can be applied to the others).
    alone: dict[str, bool] = {}
    for s, calc in calcs.items():
        q = calc.param("qualifying_months")
        covered, _ = calc.covered()
        age, _, _ = calc.age_ok()
        alone[s] = covered and age is not False and calc.own >= (int(q.value) if q else 0)

    def short(state: str, minimum: int) -> bool:
        return len(months.get(state, ())) < minimum and not alone.get(state, False)

    out: list[StateDecision] = []
    for state in sorted(by_state):
        career = by_state[state]
        agencies = career.agencies
        periods = tuple(career.periods())
        ags, group = partners(state)
        group = [g for g in group if g in months]
        notes: list[str] = []
        if career.revoked:
            notes.append(
                f"{len(career.revoked)} revoked contribution record(s) count for nothing: "
                + ", ".join(f"{r.issuer}/{r.id}" for r in career.revoked)
            )
        if career.amended:
            notes.append(
                f"{len(career.amended)} contribution record(s) count as amended: "
                + ", ".join(f"{r.issuer}/{r.id}" for r in career.amended)
            )
        if state not in calcs:
            reason = (
                "no months in the branch"
                if not career.months
                else f"{state} published no rules for the {claim.benefit} branch"
                if state not in laws or laws[state].has_branch
                else f"{state}'s rules have no {claim.benefit} branch"
            )
            outcome = "nothing" if not career.months or state in laws else "no_rules"
            out.append(
                StateDecision(
                    state,
                    agencies,
                    career.currency,
                    outcome,
                    periods,
                    periods,
                    tuple(group),
                    {"months": Figure(len(periods), f"{len(periods)} insured month(s); {reason}")},
                    tuple(notes),
                    laws[state].source.ref if state in laws else None,
                )
            )
            continue
        out.append(
            _decide_state(claim, calcs[state], ags, group, months, refs_of, alone, short, notes)
        )
    read = [r for r, k in zip(corrected.refs, corrected.types, strict=True) if k not in CORRECTIONS]
    read += corrected.applied()
    read += [law.source.ref for law in laws.values()] + [a.ref for a in applied]
    read.sort()
    basis = tuple(dict.fromkeys(read))  # each ref once
    return Decision(
        claim.pwid,
        claim.benefit,
        claim.at.isoformat(),
        claim.birth_date.isoformat() if claim.birth_date else None,
        claim.birth_date is not None,
        home,
        tuple(out),
        tuple(agreement_report),
        basis,
    )


def _decide_state(
    claim: Claim,
    calc: _StateCalc,
    ags: Sequence[_Agreement],
    group: list[str],
    months: dict[str, set[str]],
    refs_of: Callable[[Sequence[str]], tuple[ProvenRef, ...]],
    alone: dict[str, bool],
    short: Any,
    notes: list[str],
) -> StateDecision:
    state = calc.career.state
    law = calc.law
    figures: dict[str, Figure] = {}
    own_refs = calc.refs
    ag_refs = tuple(sorted(a.ref for a in ags))
    periods = tuple(calc.career.periods())
    figures["months"] = Figure(
        calc.own,
        f"{calc.own} calendar month(s) insured in {state} in the {claim.benefit} branch, "
        "corrections applied",
        records=own_refs,
    )
    q = calc.param("qualifying_months")
    need = int(q.value) if q else 0
    covered, cov_params = calc.covered()
    age, age_params, age_text = calc.age_ok()
    base_params = [q, *cov_params, *age_params]
    if not covered:
        why_alone = f"{state}'s pension branch does not cover foreign workers"
    elif age is False:
        why_alone = age_text
    else:
        have = "reaches" if calc.own >= need else "is under"
        why_alone = f"{calc.own} month(s) {have} the {need} {state}'s law asks; {age_text}"
    figures["qualifies_alone"] = Figure(alone[state], why_alone, _dedupe(base_params), own_refs)

    # Totalisation (art. 6; 987/2009 art. 12): the union of calendar months.
    totalising = len(group) > 1
    union = set().union(*(months[g] for g in group))
    total = len(union)
    group_refs = refs_of(group)
    if totalising:
        overlap = sum(len(months[g]) for g in group) - total
        text = (
            f"{total} month(s) with {', '.join(g for g in group if g != state)} under "
            + "; ".join(a.title or f"{a.ref.issuer}/{a.ref.id}" for a in ags)
            + (f"; {overlap} month(s) insured in two states counted once" if overlap else "")
        )
    else:
        text = (
            f"no agreement in force on {claim.at} totalises {state}'s periods with another state's"
        )
    figures["totalised_months"] = Figure(total, text, (), group_refs, ag_refs)
    qualifies_total = covered and age is not False and total >= need
    figures["qualifies_with_totalisation"] = Figure(
        qualifies_total if totalising else alone[state],
        (
            f"{total} totalised month(s) {'reach' if total >= need else 'are under'} the "
            f"{need} {state}'s law asks"
            if covered
            else f"{state}'s pension branch does not cover foreign workers"
        )
        if totalising
        else "no totalisation: as alone",
        _dedupe(base_params),
        group_refs,
        ag_refs,
    )

    # National amount: the state's own law over its own months.
    national = ZERO
    nat_params: list[ParamUse] = []
    paid = calc.param("pension_formula") is not None
    no_pension = f"{state}'s law has no pension formula in force: it pays no pension"
    if alone[state] and not paid:
        nat_text = f"no national pension: {no_pension}"
    elif alone[state]:
        national, nat_params = calc.pension(calc.own)
        national, rp = calc.round(national)
        nat_params += rp
        nat_text = f"{state}'s pension formula over {calc.own} own month(s)"
    else:
        nat_text = f"no national pension: {why_alone}"
    figures["national_amount"] = Figure(national, nat_text, _dedupe(nat_params), own_refs)

    # Theoretical and pro-rata amounts (art. 52(1)(b)), short periods (art. 57).
    theoretical = prorata = ZERO
    fraction = Fraction(1) if not totalising else Fraction(0)
    share, counted = Fraction(0), set()
    minimum = max((a.minimum for a in ags), default=0)
    payers = [g for g in group if not short(g, minimum)] or list(group)  # art. 57(3)
    is_short = totalising and state not in payers
    pr_params: list[ParamUse] = []
    if totalising:
        counted = set().union(*(months[g] for g in payers))
        others = [months[g] for g in payers if g != state]
        mine = months[state] if state in payers else set()
        # Only the months insured elsewhere too are shared; the rest count whole.
        shared = mine.intersection(*others) if len(others) == 1 else mine & set().union(*others)
        by_k = Counter(1 + sum(1 for o in others if p in o) for p in shared)
        share = Fraction(len(mine) - len(shared)) + sum(
            (Fraction(n, k) for k, n in by_k.items()), Fraction(0)
        )
        fraction = share / len(counted) if counted and not is_short else Fraction(0)
        if qualifies_total and not is_short and paid:
            theoretical, pr_params = calc.pension(total)
            prorata = theoretical * Decimal(fraction.numerator) / Decimal(fraction.denominator)
    th_rounded, rp = calc.round(theoretical)
    figures["theoretical_amount"] = Figure(
        th_rounded,
        f"{state}'s pension formula over all {total} totalised month(s), as if its own"
        if theoretical
        else "no theoretical amount: "
        + (
            "no totalisation"
            if not totalising
            else f"fewer than {minimum} month(s) in {state} (art. 57)"
            if is_short
            else no_pension
            if not paid
            else "the conditions are not met with totalisation either"
        ),
        _dedupe([*pr_params, *rp]) if theoretical else (),
        group_refs if theoretical else (),
        ag_refs if theoretical else (),
    )
    frac_text = (
        f"{state}'s share of the months, {_fraction_text(share)} of {len(counted)}"
        + (" (a month insured in k states counts 1/k in each)" if totalising else "")
        if totalising and not is_short
        else f"{calc.own} month(s) under the {minimum} of the agreement (art. 57): "
        "nothing under the agreement; the others count them"
        if is_short
        else "no totalisation: the state's own months only"
    )
    figures["pro_rata_fraction"] = Figure(
        _ratio(fraction), frac_text, (), group_refs if totalising else own_refs, ag_refs
    )
    prorata, rp = calc.round(prorata)
    figures["pro_rata_amount"] = Figure(
        prorata,
        f"theoretical amount x {_fraction_text(fraction)}" if prorata else "no pro-rata amount",
        _dedupe([*pr_params, *rp]) if prorata else (),
        group_refs if prorata else (),
        ag_refs if prorata else (),
    )
    due = max(national, prorata)
    which = (
        "the national amount (higher than the pro-rata)"
        if due and national >= prorata and prorata
        else "the national amount"
        if due and national >= prorata
        else "the pro-rata amount (higher than the national)"
        if due
        else "no pension is due"
    )
    figures["amount_due"] = Figure(
        due,
        f"{which} (art. 52(3))",
        _dedupe([*nat_params, *pr_params]) if due else (),
        group_refs if prorata > national else own_refs,
        ag_refs if prorata > national else (),
    )
    outcome = "pension" if due > 0 else "nothing"
    lump = calc.param("lump_sum_formula")
    if due == 0 and lump is not None:
        value, used = law.evaluate("lump_sum_formula", calc.variables(calc.own))
        value, rp = calc.round(max(value, ZERO))
        figures["lump_sum"] = Figure(
            value,
            f"no pension is due; {state}'s law gives a lump sum over {calc.own} own month(s)",
            _dedupe([*used, *rp]),
            own_refs,
        )
        outcome = "lump_sum" if value > 0 else outcome
    elif due == 0:
        figures["lump_sum"] = Figure(ZERO, f"{state}'s law gives no lump sum", (), own_refs)
    abroad = calc.param("paid_abroad")
    if abroad is not None and abroad.value is False and state != calc.home:
        notes.append(f"{state}'s law does not pay this benefit abroad ({abroad.name})")
    return StateDecision(
        state,
        calc.career.agencies,
        law.currency,
        outcome,
        periods,
        periods,
        tuple(group),
        figures,
        tuple(notes),
        law.source.ref,
    )


def _fraction_text(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _ratio(f: Fraction) -> str:
    """An exact fraction as text, ``num/den`` (a decimal would round)."""
    return _fraction_text(f)
