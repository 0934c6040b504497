"""A worker's career from verified records: what stands after corrections, and the
insured months per state.

The decision engine reads records, never a database: each record comes with where it
was proven (:class:`RecordRef`: issuer, id, log origin, index). The same record may
arrive twice (from its own log and from a member's mirror of it): it counts once. Two
different records under one ``(issuer, id)`` cannot both be genuine, so they are refused.

Corrections are applied as the bundle verifier applies them (``ledger.bundles.bundle``):
an amendment replaces its target's body (the newest standing one wins), a revocation
withdraws its target, and a correction that is itself revoked does nothing.

A calendar month is one insured month in a state however many employers reported it
(their earnings add up). The state of a record is its issuer's country (an agency id
starts with its ISO 3166-1 code).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from pel.ledger.errors import LedgerError

CORRECTIONS = ("amendment", "revocation")


class DecisionError(LedgerError):
    """The inputs of a decision cannot be decided on.

    Codes: ``pwid_mismatch`` (a record of another worker), ``conflicting_records``
    (two different records under one issuer and id), ``bad_claim``, ``no_rules``
    (a state where the worker has periods published no rules), ``bad_rules``,
    ``bad_agreement``.
    """

    code = "bad_decision_input"
    http_status = 422

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries whole
        return (type(self), (self.code, self.message))


class RecordRef(NamedTuple):
    """Where a record was proven: its log origin and index, its issuer and id.

    Ordered by (origin, index): log order, the same on every machine. (A named tuple:
    a decision sorts thousands of them, and tuples compare in C.)
    """

    origin: str
    index: int
    issuer: str
    id: str

    def to_obj(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "id": self.id, "origin": self.origin, "index": self.index}

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> RecordRef:
        return cls(str(obj["origin"]), int(obj["index"]), str(obj["issuer"]), str(obj["id"]))


@dataclass(frozen=True)
class SourcedRecord:
    """A verified record (signature and inclusion checked by whoever supplies it) and
    where it was proven."""

    record: Mapping[str, Any]
    ref: RecordRef

    @property
    def type(self) -> str:
        return str(self.record["type"])

    @property
    def state(self) -> str:
        return self.ref.issuer[:2]


class Standing(NamedTuple):
    """A record after corrections: its body now, its status, and the corrections'
    refs (``valid``, ``amended`` or ``revoked``). (A named tuple: one per record of a
    decision, and a frozen dataclass costs several times as much to make.)"""

    source: SourcedRecord
    status: str
    body: Mapping[str, Any]
    corrected_by: tuple[RecordRef, ...] = ()

    @property
    def refs(self) -> tuple[RecordRef, ...]:
        """The record and every correction it rests on."""
        return (self.source.ref, *self.corrected_by) if self.corrected_by else (self.source.ref,)


def unique(records: Iterable[SourcedRecord]) -> list[SourcedRecord]:
    """Each record once, in log order; the same record from two copies is one.

    Raises:
        DecisionError: ``conflicting_records``: two different records (or one record
            at two places) under one ``(issuer, id)``.
    """
    seen: dict[tuple[str, str], SourcedRecord] = {}
    for s in records:
        key = (s.ref.issuer, s.ref.id)
        if s.record.get("issuer") != s.ref.issuer or s.record.get("id") != s.ref.id:
            raise DecisionError(
                "conflicting_records", f"record {key[0]}/{key[1]} is not the one its ref names"
            )
        old = seen.get(key)
        if old is None:
            seen[key] = s
        elif old.ref != s.ref or old.record != s.record:
            raise DecisionError(
                "conflicting_records",
                f"two different copies of record {key[0]}/{key[1]} were supplied: "
                f"at {old.ref.origin}#{old.ref.index} and {s.ref.origin}#{s.ref.index}",
            )
    return sorted(seen.values(), key=lambda s: s.ref)


def apply_corrections(records: Iterable[SourcedRecord]) -> list[Standing]:
    """Every record that is not a correction, with the corrections applied, in log order.

    A correction names a record of its own log at a smaller index; one that names a
    record not supplied, or a later one, is ignored (it corrects nothing supplied).
    """
    ordered = unique(records)
    types = [s.record["type"] for s in ordered]
    by_key = {(s.ref.issuer, s.ref.id): i for i, s in enumerate(ordered)}
    status = ["valid"] * len(ordered)
    body: list[Mapping[str, Any]] = [s.record["body"] for s in ordered]
    fixes: dict[int, list[RecordRef]] = {}
    for i in reversed(range(len(ordered))):
        if types[i] not in CORRECTIONS or status[i] == "revoked":
            continue
        s = ordered[i]
        target = s.record["body"]["target"]
        t = by_key.get((target["issuer"], target["id"]))
        if t is None:
            continue
        tv = ordered[t]
        if tv.ref.origin != s.ref.origin or tv.ref.index >= s.ref.index:
            continue
        if types[i] == "revocation":
            status[t] = "revoked"
            fixes.setdefault(t, []).append(s.ref)
        elif s.record["body"].get("target_type") == types[t]:
            fixes.setdefault(t, []).append(s.ref)
            if status[t] == "valid":
                status[t], body[t] = "amended", s.record["body"]["body"]
    return [
        Standing(s, status[i], body[i], tuple(sorted(fixes[i])) if i in fixes else ())
        for i, s in enumerate(ordered)
        if types[i] not in CORRECTIONS
    ]


class Month:
    """One insured calendar month in one state: the contributions that show it (all
    employers together) and the records (with their corrections) they rest on. Sums are
    worked out when first asked for: most formulas read a few of them, over few months."""

    __slots__ = ("_sums", "bodies", "branch", "period", "refs")

    def __init__(
        self,
        period: str,
        branch: str,
        bodies: tuple[Mapping[str, Any], ...],
        refs: tuple[RecordRef, ...],
    ) -> None:
        self.period = period
        self.branch = branch
        self.bodies = bodies
        self.refs = refs
        self._sums: tuple[Decimal, Decimal, Decimal] | None = None

    def _sum(self) -> tuple[Decimal, Decimal, Decimal]:
        if self._sums is None:
            earn = emp = tot = Decimal(0)
            for b in self.bodies:
                earn += Decimal(b["insured_earnings"])
                paid = b["contributions"]
                emp += Decimal(paid[self.branch])
                for x in paid.values():
                    tot += Decimal(x)
            self._sums = (earn, emp, tot)
        return self._sums

    @property
    def earnings(self) -> Decimal:
        """Insured earnings of the month."""
        return self._sum()[0]

    @property
    def contributions_employee(self) -> Decimal:
        """The branch's contribution as recorded (a record does not split the shares)."""
        return self._sum()[1]

    @property
    def contributions_total(self) -> Decimal:
        """The contributions to every branch."""
        return self._sum()[2]


@dataclass
class StateCareer:
    """A worker's insured months in one state for one branch, and what was left out."""

    state: str
    currency: str | None = None
    months: dict[str, Month] = field(default_factory=dict)
    revoked: list[RecordRef] = field(default_factory=list)
    amended: list[RecordRef] = field(default_factory=list)
    refs: tuple[RecordRef, ...] = ()

    def periods(self) -> list[str]:
        return sorted(self.months)


def careers(standing: Iterable[Standing], branch: str) -> dict[str, StateCareer]:
    """Insured months by state for ``branch``: each contribution that stands and pays
    into the branch makes its period an insured month of its issuer's state."""
    out: dict[str, StateCareer] = {}
    acc: dict[str, dict[str, tuple[list[Mapping[str, Any]], list[RecordRef]]]] = {}
    # Every ref once, in log order: the records come in log order and their corrections
    # follow them, so sorting these lists only merges runs (no set: hashing is the cost).
    counted: dict[str, list[RecordRef]] = {}
    for source, status, b, fixes in standing:
        if source.record["type"] != "contribution":
            continue
        ref = source.ref
        state = ref.issuer[:2]
        career = out.get(state)
        if career is None:
            career = out[state] = StateCareer(state)
            acc[state] = {}
            counted[state] = []
        if status == "revoked":
            career.revoked.append(ref)
            continue
        if branch not in b["contributions"]:
            continue
        if status == "amended":
            career.amended.append(ref)
        if career.currency is None:
            career.currency = b["currency"]
        slot = acc[state].get(b["period"])
        if slot is None:
            slot = acc[state][b["period"]] = ([], [])
        slot[0].append(b)
        slot[1].append(ref)
        counted[state].append(ref)
        if fixes:
            slot[1].extend(fixes)
            counted[state].extend(fixes)
    for state, periods in acc.items():
        out[state].refs = tuple(sorted(counted[state]))
        months = out[state].months
        for period, (bodies, refs) in periods.items():
            months[period] = Month(
                period, branch, tuple(bodies), tuple(sorted(refs)) if len(refs) > 1 else (refs[0],)
            )
    return {k: out[k] for k in sorted(out) if out[k].months or out[k].revoked}
