"""Corrections: what an amendment or a revocation changes, one rule for every reader.

A correction (``amendment`` or ``revocation``) names its target by issuer and id: a
record of its own log at a smaller index. Walking the records from the newest back, a
revocation is met before what it revokes, so a revoked correction has no effect; of
the standing amendments of a record, the newest wins.

The bundle verifier applies the rule strictly (a correction whose target is missing or
does not fit makes the bundle invalid); the decision engine leniently (such a
correction corrects nothing it was given). Both call :func:`resolve`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from pel.ledger.errors import CorrectionError

CORRECTIONS = frozenset({"amendment", "revocation"})
VALID, AMENDED, REVOKED = "valid", "amended", "revoked"


class Resolution(NamedTuple):
    """Per record (by position): its status, its body now, and the positions of the
    corrections that apply to it, newest first (only records that have any)."""

    status: list[str]
    body: list[Mapping[str, Any]]
    fixes: dict[int, list[int]]


def resolve(
    records: Sequence[Mapping[str, Any]],
    places: Sequence[Sequence[Any]],
    *,
    order: Sequence[int] | None = None,
    types: Sequence[str] | None = None,
    strict: bool = False,
) -> Resolution:
    """Apply the corrections among ``records``.

    Args:
        records: The records (``type``, ``issuer``, ``id``, ``body``), each once.
        places: Where each was proven: ``places[i][0]`` its log origin, ``places[i][1]``
            its index in that log.
        order: The positions in log order; None when ``records`` are in log order.
        types: Each record's ``type``, when the caller has them at hand.
        strict: Raise on a correction that cannot apply, instead of ignoring it.

    Raises:
        CorrectionError: only when ``strict``.
    """
    n = len(records)
    status = [VALID] * n
    body: list[Mapping[str, Any]] = [r["body"] for r in records]
    fixes: dict[int, list[int]] = {}
    walk = reversed(range(n)) if order is None else reversed(order)
    kinds = [r["type"] for r in records] if types is None else types
    corrections = [i for i in walk if kinds[i] in CORRECTIONS]
    if not corrections:  # the common case: nothing to index
        return Resolution(status, body, fixes)
    # Index only the records a correction names (a few among many): a set test per
    # record instead of a key built for every one.
    named = {records[i]["body"]["target"]["id"] for i in corrections}
    by_key = {(r["issuer"], r["id"]): i for i, r in enumerate(records) if r["id"] in named}
    for i in corrections:
        record = records[i]
        kind = kinds[i]
        target = record["body"]["target"]
        t = by_key.get((target["issuer"], target["id"]))
        where = f"the {kind} {record['issuer']}/{record['id']}"
        if t is None:
            if strict:
                raise CorrectionError(
                    "missing_target",
                    f"{where} corrects {target['issuer']}/{target['id']}, "
                    "which is not among the records",
                )
            continue
        here, there = places[i], places[t]
        if there[0] != here[0] or there[1] >= here[1]:
            if strict:
                raise CorrectionError(
                    "target_mismatch", f"{where} names a record that does not precede it"
                )
            continue
        if status[i] == REVOKED:
            continue
        if kind == "revocation":
            status[t] = REVOKED
            fixes.setdefault(t, []).append(i)
            continue
        if record["body"].get("target_type") != kinds[t]:
            if strict:
                raise CorrectionError(
                    "target_mismatch",
                    f"{where} is for a {record['body'].get('target_type')}, "
                    f"but its target is a {kinds[t]}",
                )
            continue
        fixes.setdefault(t, []).append(i)
        if status[t] == VALID:  # walking back, the first standing amendment is the newest
            status[t] = AMENDED
            body[t] = record["body"]["body"]
    return Resolution(status, body, fixes)


__all__ = ["AMENDED", "CORRECTIONS", "REVOKED", "VALID", "CorrectionError", "Resolution", "resolve"]
