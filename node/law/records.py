"""The public law a node holds: ``rules``, ``agreement`` and ``withdrawal`` records in
its own log and in the logs it mirrors, and the part of it a worker's decision needs.

Law records name no worker, so the log stores them under an empty pwid. A worker's
decision needs the rules of every state where the worker has records (each state's
newest ``rules`` record: the table in force) and every agreement to which one of those
states' agencies is a party, with the withdrawals from it. An agreement is appended to
every party's log as the same record; one copy is enough, and every node picks the
same one (the lowest log origin, then index) so that decisions name the same record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pel.ledger.records.types import LAW_TYPES
from pel.node.agency_node import Node

LAW_PWID = ""

Held = dict[str, list[tuple[int, dict[str, Any]]]]
"""Records by log origin: ``(index, record)`` in log order."""


def held_law(node: Node) -> Held:
    """Every law record in the node's own log and in its mirrors (not a log flagged for
    a proven fork), by origin."""
    out: Held = {}
    own = [(i, json.loads(d)) for i, d in node.log.pwid_entries(LAW_PWID)]
    if own:
        out[node.settings.origin] = own
    flagged = node.mirrors.flagged()
    for origin, index, entry in node.mirrors.records_of(LAW_PWID):
        if origin not in flagged:
            out.setdefault(origin, []).append((index, json.loads(entry)))
    return {o: [(i, r) for i, r in recs if r.get("type") in LAW_TYPES] for o, recs in out.items()}


def law_for(law: Held, agencies: Iterable[str]) -> set[tuple[str, int]]:
    """The ``(origin, index)`` of the law records a decision on a worker whose records
    were issued by ``agencies`` rests on."""
    states = {a[:2] for a in agencies}
    keep: set[tuple[str, int]] = set()
    newest: dict[str, tuple[str, int]] = {}
    agreements: dict[tuple[str, str], tuple[str, int]] = {}
    for origin in sorted(law):
        for index, r in law[origin]:
            kind = r["type"]
            if (
                kind == "rules"
                and r["issuer"][:2] in states
                and r["body"].get("state") == r["issuer"][:2]
            ):
                state = r["issuer"][:2]
                if state not in newest or (origin, index) > newest[state]:
                    newest[state] = (origin, index)
            elif kind == "agreement" and any(p[:2] in states for p in r["body"]["parties"]):
                key = (r["issuer"], r["id"])
                agreements.setdefault(key, (origin, index))  # origins in order: the lowest
    keep |= set(newest.values()) | set(agreements.values())
    for origin in sorted(law):
        for index, r in law[origin]:
            target = r["body"].get("agreement") if r["type"] == "withdrawal" else None
            if target and (target["issuer"], target["id"]) in agreements:
                keep.add((origin, index))
    return keep
