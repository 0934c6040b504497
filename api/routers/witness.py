"""C2SP tlog-witness: ``POST /add-checkpoint`` cosigns other members' checkpoints."""

from __future__ import annotations

import time

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from pel.api.deps import NodeDep
from pel.api.schemas import ERROR_CONTENT, TEXT
from pel.ledger.errors import WitnessError

router = APIRouter(tags=["tlog-witness"])
MAX_BODY = 64 << 10


@router.post(
    "/add-checkpoint",
    summary="Cosign a checkpoint that extends the one last cosigned (C2SP tlog-witness)",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"schema": {"type": "string", "maxLength": MAX_BODY}}},
        }
    },
    responses={
        200: {"content": TEXT, "description": "cosignature line(s)"},
        400: {"description": "malformed request"},
        403: {"description": "not signed by the log's key"},
        404: {"description": "this witness does not witness that log"},
        409: {
            "content": {"text/x.tlog.size": {"schema": {"type": "string"}}, **ERROR_CONTENT},
            "description": "old size mismatch: the size on record",
        },
        422: {"description": "the consistency proof does not verify"},
    },
)
async def add_checkpoint(request: Request, node: NodeDep) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise WitnessError("request body too large", code="request_too_large", http_status=413)
    try:
        lines = await anyio.to_thread.run_sync(
            lambda: node.add_checkpoint(body, now=int(time.time()))
        )
    except WitnessError as exc:
        if exc.http_status == 409 and exc.latest_size is not None:
            # Set by hand: Starlette would append "; charset=utf-8" to a text/* type.
            return Response(
                f"{exc.latest_size}\n".encode(),
                status_code=409,
                headers={"content-type": "text/x.tlog.size"},
            )
        raise
    return Response(lines, media_type="text/plain; charset=utf-8")
