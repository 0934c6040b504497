"""A worker's career from verified records: what stands after corrections, and the
insured months per state.

The decision engine reads records, never a database: each record comes with where it
was proven (:class:`ProvenRef`: issuer, id, log origin, index). The same record may
arrive twice (from its own log and from a member's mirror of it): it counts once. Two
different records under one ``(issuer, id)`` cannot both be genuine, so they are refused.

Corrections are applied by the one rule of ``ledger.records.corrections`` (the bundle
verifier's too): an amendment replaces its target's body (the newest standing one wins),
a revocation withdraws its target, and a correction that is itself revoked does nothing.

A calendar month is one insured month in a state however many employers reported it
(their earnings add up). The state of a record is its issuer's country (an agency id
starts with its ISO 3166-1 code).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import count
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from pel.ledger.errors import LedgerError
from pel.ledger.records.corrections import AMENDED, CORRECTIONS, REVOKED, resolve


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


class ProvenRef(NamedTuple):
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
    def from_obj(cls, obj: Mapping[str, Any]) -> ProvenRef:
        return cls(str(obj["origin"]), int(obj["index"]), str(obj["issuer"]), str(obj["id"]))


@dataclass(frozen=True)
class SourcedRecord:
    """A verified record (signature and inclusion checked by whoever supplies it) and
    where it was proven."""

    record: Mapping[str, Any]
    ref: ProvenRef

    @property
    def type(self) -> str:
        return str(self.record["type"])

    @property
    def state(self) -> str:
        return self.ref.issuer[:2]


def unique(records: Iterable[SourcedRecord], pwid: str | None = None) -> list[SourcedRecord]:
    """Each record once, in log order; the same record from two copies is one.

    Raises:
        DecisionError: ``conflicting_records``: two different records (or one record
            at two places) under one ``(issuer, id)``; ``pwid_mismatch``: with ``pwid``
            given, a record of another worker.
    """
    seen: dict[tuple[str, str], SourcedRecord] = {}
    for s in records:
        ref = s.ref
        key = ref[2:]  # (issuer, id)
        old = seen.setdefault(key, s)
        if old is s:
            record = s.record
            try:
                named = record["issuer"], record["id"]
                whose = record["pwid"] if pwid is not None else None
            except KeyError:
                named, whose = (None, None), None
            if named != key:
                raise DecisionError(
                    "conflicting_records", f"record {key[0]}/{key[1]} is not the one its ref names"
                )
            if whose != pwid:
                raise DecisionError(
                    "pwid_mismatch",
                    f"record {ref.issuer}/{ref.id} is of another worker than the claim's",
                )
        elif old.ref != ref or old.record != s.record:
            raise DecisionError(
                "conflicting_records",
                f"two different copies of record {key[0]}/{key[1]} were supplied: "
                f"at {old.ref.origin}#{old.ref.index} and {ref.origin}#{ref.index}",
            )
    return sorted(seen.values(), key=_BY_REF)


_BY_REF = attrgetter("ref")
_TYPE = itemgetter("type")


class Corrected(NamedTuple):
    """A decision's records, each once in log order, with the corrections applied
    (``ledger.records.corrections``, leniently: a correction of a record not supplied,
    or of a later one, corrects nothing). The lists run in parallel, by position."""

    records: list[SourcedRecord]
    refs: list[ProvenRef]
    types: list[str]
    status: list[str]
    body: list[Mapping[str, Any]]
    #: Per corrected record (by position): the positions of the corrections applied.
    fixes: dict[int, list[int]]

    def applied(self) -> list[ProvenRef]:
        """The refs of every correction that applies to a supplied record (one that is
        not itself a correction: a revoked amendment changes nothing)."""
        refs, types = self.refs, self.types
        return [refs[j] for i, js in self.fixes.items() if types[i] not in CORRECTIONS for j in js]


def apply_corrections(records: Iterable[SourcedRecord], pwid: str | None = None) -> Corrected:
    """The records, each once in log order, with the corrections applied (with ``pwid``
    given, every record must be that worker's: see :func:`unique`)."""
    ordered = unique(records, pwid)
    bare = [s.record for s in ordered]
    refs = [s.ref for s in ordered]
    types = list(map(_TYPE, bare))
    status, body, fixes = resolve(bare, refs, types=types)
    return Corrected(ordered, refs, types, status, body, fixes)


@dataclass
class StateCareer:
    """A worker's insured months in one state for one branch, and what was left out.

    ``months`` maps each insured calendar month (``YYYY-MM``) to the contribution bodies
    (corrections applied) that show it: one per employer; their figures add up."""

    state: str
    currency: str | None = None
    months: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    revoked: list[ProvenRef] = field(default_factory=list)
    amended: list[ProvenRef] = field(default_factory=list)
    refs: tuple[ProvenRef, ...] = ()
    #: The agencies that issued ``refs``, sorted.
    agencies: tuple[str, ...] = ()

    def periods(self) -> list[str]:
        return sorted(self.months)


def careers(corrected: Corrected, branch: str) -> dict[str, StateCareer]:
    """Insured months by state for ``branch``: each contribution that stands and pays
    into the branch makes its period an insured month of its issuer's state."""
    _, refs, types, status, body, fixes = corrected
    out: dict[str, StateCareer] = {}
    # Every ref once, in log order: the records come in log order and their corrections
    # follow them, so sorting these lists only merges runs (no set: hashing is the cost).
    counted: dict[str, list[ProvenRef]] = {}
    issuer = ""
    career = StateCareer("")
    months: dict[str, list[Mapping[str, Any]]] = {}
    got: list[ProvenRef] = []
    # One pass over parallel lists (zip, no indexing): this loop runs once per record.
    for i, kind, ref, st, b in zip(count(), types, refs, status, body):
        if kind != "contribution":
            continue
        if ref.issuer != issuer:  # records come grouped by log, so by agency
            issuer = ref.issuer
            state = issuer[:2]
            career = out.get(state) or out.setdefault(state, StateCareer(state))
            months = career.months
            got = counted.setdefault(state, [])
        if st == REVOKED:
            career.revoked.append(ref)
            continue
        if branch not in b["contributions"]:
            continue
        period = b["period"]
        bodies = months.get(period)
        if bodies is None:
            months[period] = [b]
        else:
            bodies.append(b)
        got.append(ref)
        if st == AMENDED:  # only a corrected record has fixes
            career.amended.append(ref)
            got.extend(refs[j] for j in fixes[i])
    for state, counted_refs in counted.items():
        career = out[state]
        if career.months:  # the currency of the first month counted, in log order
            career.currency = next(iter(career.months.values()))[0]["currency"]
        career.refs = tuple(sorted(counted_refs))
        career.agencies = tuple(sorted({r.issuer for r in career.refs}))
    return {k: out[k] for k in sorted(out) if out[k].months or out[k].revoked}
