"""``POST /v1/decisions``: decide a worker's entitlements from this node's log and mirrors.

Body: ``{"pwid", "benefit": "old_age", "at": "YYYY-MM-DD", "birth_date"?: "YYYY-MM-DD",
"record"?: false, "id"?: "<entitlement record id>"}``. The answer is the decision
(``pel-decision/v1``) under ``decision``, the ids of the worker's records not yet
witnessed (``pending``: not decided on) and, with ``"record": true``, the entitlement
record appended and its ``index``. Who may ask, and the rest, is in ``node.workers.decisions``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from pel.api.deps import CallerDep, NodeDep
from pel.api.schemas import BEARER
from pel.crypto.jcs import canonicalize
from pel.ledger.errors import RecordError
from pel.ledger.records.fields import PWID, Date, RecordId
from pel.ledger.records.validate import record_error
from pel.node.workers.decisions import authorise, decide_here, record_decision

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])


class DecisionRequest(BaseModel):
    """What is asked: the worker, the branch, the date, and whether to record it."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    pwid: PWID
    benefit: Literal["old_age"] = "old_age"
    at: Date
    birth_date: Date | None = None
    record: StrictBool = False
    id: RecordId | None = None


def _read(raw: bytes) -> DecisionRequest:
    try:
        data = json.loads(raw)
    except ValueError:
        raise RecordError("the body is not JSON", code="bad_json") from None
    if not isinstance(data, dict):
        raise RecordError("the body must be a JSON object", code="not_an_object")
    try:
        return DecisionRequest.model_validate(data)
    except ValidationError as exc:
        raise record_error(exc) from None


@router.post(
    "",
    summary="Decide a worker's entitlements (pel-decision/v1); optionally record them",
    response_class=Response,
    openapi_extra={
        "security": BEARER,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": DecisionRequest.model_json_schema()}},
        },
    },
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def post_decision(request: Request, node: NodeDep, caller: CallerDep) -> Response:
    ask = _read(await request.body())

    def work() -> bytes:
        authorise(node, caller, ask.pwid, record=ask.record)
        made = decide_here(
            node,
            ask.pwid,
            at=dt.date.fromisoformat(ask.at),
            benefit=ask.benefit,
            birth_date=dt.date.fromisoformat(ask.birth_date) if ask.birth_date else None,
        )
        if ask.record:
            record_decision(node, made, ask.id or f"decision-{made.decision.digest()[:24]}")
        answer: dict[str, Any] = {"decision": made.decision.to_obj(), "pending": made.pending}
        if made.entitlement is not None:
            answer["entitlement"] = made.entitlement
            answer["index"] = made.index
        return canonicalize(answer)

    body = await anyio.to_thread.run_sync(work)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})
