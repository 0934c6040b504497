"""Decisions a node makes for ``POST /v1/decisions``: from its own log and its mirrors,
through the same verified bundle a worker would carry, and, on request, appended to its
own log as an ``entitlement`` record that names its basis.

The node builds its part of the worker's bundle (``node.workers.bundles.build_part``:
the worker's records here and in the mirrors, with the rules and agreements, each
proven against a witnessed checkpoint), verifies it like any verifier would, and
decides from it (``ledger.portability.inputs``). So a decision made online equals the
one ``pel entitle`` makes offline from the same bundle, and records not yet witnessed
(reported as pending) are not decided on.

The entitlement record is this node's state's share of the decision: the amount due
(a pension) or, where none is due, the lump sum. Its ``basis`` names every record the
decision rests on by log, index and the checkpoint it was proven under, with the
decision's SHA-256, so ``pel audit`` can fetch them and decide again. A birth date is
personal data and is never logged: a decision that checked the pension age is not
recorded.

Who may ask: the node's read policy (``node.access.policy``) lets staff readers and admins,
auditors and member agencies ask; a member agency only for a worker it is an agency of
(the worker's home agency, this node's agency, or one whose records of the worker are
held here). Only this agency's admin staff may have the decision recorded
(only the agency appends to its log).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pel.crypto.note import parse_note
from pel.ledger.bundles.bundle import Bundle, BundleReport, verify_bundle
from pel.ledger.errors import RecordError
from pel.ledger.portability.decision import Decision
from pel.ledger.portability.entitlement import share
from pel.ledger.portability.inputs import decide_report
from pel.ledger.tlog.checkpoint import Checkpoint
from pel.ledger.tlog.tlog_proof import parse_proof
from pel.node.access.policy import Caller, is_workers_agency
from pel.node.agency_node import Node, utc_now
from pel.node.errors import ForbiddenError
from pel.node.workers.bundles import _trust, build_part

DECISIONS_PATH = "/v1/decisions"
BASIS_FORMAT = "pel-decision-basis/v1"


@dataclass
class Made:
    """A decision, the bundle it was made from, the records left out as pending, and
    the entitlement record appended (when asked)."""

    decision: Decision
    bundle: Bundle
    report: BundleReport
    pending: list[str] = field(default_factory=list)
    entitlement: dict[str, Any] | None = None
    index: int | None = None


def authorise(node: Node, caller: Caller, pwid: str, *, record: bool) -> None:
    """Whether ``caller`` (granted by the node's read policy, ``node.access.policy``) may have
    ``pwid`` decided, and recorded.

    Raises:
        ForbiddenError: a member agency that is not one of the worker's agencies, or a
            request to record by anyone but this agency's admin staff (403): the read
            policy already refuses writer tokens here, since a decision reads records.
    """
    if caller.kind == "member" and not is_workers_agency(node, caller.name, pwid):
        raise ForbiddenError(f"{caller.name} is not one of this worker's agencies")
    if record and not (caller.kind == "staff" and caller.role == "admin"):
        raise ForbiddenError("only this agency's admin staff record a decision")


def decide_here(
    node: Node,
    pwid: str,
    *,
    at: dt.date,
    benefit: str = "old_age",
    birth_date: dt.date | None = None,
) -> Made:
    """Decide from the worker's records held here, as a verified bundle.

    Raises:
        NotFoundError: the node holds no record of the worker.
        BundleError / DecisionError: the part does not verify, or cannot be decided on.
    """
    trust_list = _trust(node)
    part = build_part(node, pwid)
    report = verify_bundle(part.bundle.to_bytes(), trust_list)
    decision = decide_report(report, at=at, benefit=benefit, birth_date=birth_date)
    return Made(decision, part.bundle, report, part.pending)


def basis_of(made: Made) -> dict[str, Any]:
    """The ``basis`` of the entitlement: every record of the bundle by log, with the
    checkpoint (size, root) it was proven under, and the decision's SHA-256."""
    logs: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    for entry in made.bundle.records:
        proof = parse_proof(entry.proof)
        cp = Checkpoint.parse(parse_note(proof.checkpoint).text)
        logs[(cp.origin, cp.size, base64.b64encode(cp.root).decode())].append(proof.index)
    d = made.decision
    return {
        "format": BASIS_FORMAT,
        "branch": d.benefit,
        "at": d.at,
        "logs": [
            {"origin": o, "size": s, "root": r, "indexes": sorted(ix)}
            for (o, s, r), ix in sorted(logs.items())
        ],
        "decision": d.digest(),
    }


def entitlement_draft(node: Node, made: Made, record_id: str) -> dict[str, Any]:
    """The unsigned entitlement record of this node's state's share of the decision.

    Raises:
        RecordError: ``no_periods_here`` (nothing to decide for this state),
            ``not_decided`` (no rules for this state), ``birth_date_not_logged``.
    """
    d = made.decision
    if d.birth_date is not None:
        raise RecordError(
            "a decision that used a birth date is not recorded: the log keeps no personal "
            "data; decide without birth_date to record it",
            code="birth_date_not_logged",
        )
    body = share(d, node.agency[:2])
    body["basis"] = basis_of(made)
    return {
        "v": 1,
        "type": "entitlement",
        "id": record_id,
        "issued_at": utc_now(),
        "pwid": d.pwid,
        "body": body,
    }


def record_decision(node: Node, made: Made, record_id: str) -> Made:
    """Append this node's entitlement record for the decision; return it with its index.

    Raises:
        RecordError: see :func:`entitlement_draft`; BatchError: the log refused it.
    """
    draft = entitlement_draft(node, made, record_id)
    [appended] = node.submit([draft])
    entry = node.log.pwid_entries(made.decision.pwid)
    stored = next(json.loads(e) for i, e in entry if i == appended.index)
    made.entitlement, made.index = stored, appended.index
    return made
