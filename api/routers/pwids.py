"""``/v1/pwids/{pwid}/bundle``: this node's part of a worker's proof bundle.

The worker's records in this node's own log and in the logs it mirrors. Only for the
worker's agencies, this agency's staff and the worker (the read policy, ``node.access.policy``,
has granted the request before this runs): 401 without credentials, 403 when they do
not grant this worker, and only then 404 when neither the log nor a mirror holds a
record of the worker and no witnessed checkpoint of the log proves their absence (the
part carries that index proof: ``completeness``). Every part handed out is in the
access record.
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from pel.api.deps import CallerDep, NodeDep
from pel.api.schemas import BEARER
from pel.ledger.errors import RecordError
from pel.ledger.records.fields import check_pwid
from pel.node.access.access_log import record_read
from pel.node.workers.bundles import build_part

router = APIRouter(prefix="/v1/pwids", tags=["bundles"])


@router.get(
    "/{pwid}/bundle",
    summary="This node's part of a worker's proof bundle (pel-bundle/v1, canonical JSON)",
    response_class=Response,
    openapi_extra={"security": BEARER},
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def pwid_bundle(pwid: str, request: Request, node: NodeDep, caller: CallerDep) -> Response:
    try:
        check_pwid(pwid)
    except ValueError:
        raise RecordError(f"{pwid[:40]!r} is not a PWID", code="bad_pwid") from None

    def work() -> tuple[bytes, list[str], list[str]]:
        part = build_part(node, pwid)
        record_read(
            node.engine,
            caller.who(),
            request.url.path,
            pwid=pwid,
            records=[f"{e.record['issuer']} {e.record['id']}" for e in part.bundle.records],
        )
        return part.bundle.to_bytes(), part.pending, part.left_out

    body, pending, left_out = await anyio.to_thread.run_sync(work)
    headers = {"Pel-Pending": ",".join(pending), "Cache-Control": "no-store"}
    if left_out:
        headers["Pel-Left-Out"] = ",".join(left_out)
    return Response(body, media_type="application/json", headers=headers)
