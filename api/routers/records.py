"""``/v1/records``: submit record batches, read records back."""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as FPath
from fastapi.responses import Response

from pel.api.deps import MAX_INDEX, CallerDep, Index, LogDep, NodeDep, WriterDep
from pel.api.schemas import BEARER, RecordView, SubmitResult
from pel.node.access.access_log import record_read
from pel.node.access.policy import Caller
from pel.node.agency_node import Node
from pel.node.errors import ForbiddenError
from pel.node.receipts import encode_receipt, submit_and_wait

router = APIRouter(prefix="/v1/records", tags=["records"])

_BATCH_SCHEMA = {
    "security": BEARER,
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "Record drafts (no sig: the node fills issuer and issued_at and "
                    "signs) or records already signed by the issuer.",
                }
            }
        },
    },
}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@router.post(
    "",
    openapi_extra=_BATCH_SCHEMA,
    summary="Append a batch of records (all or nothing)",
    response_model=SubmitResult,
    responses={
        202: {"model": SubmitResult, "description": "appended, not yet in a checkpoint"},
        401: {"description": "no or unknown token"},
        409: {"description": "conflict"},
        413: {"description": "too large"},
        415: {"description": "not sent as application/json"},
        422: {"description": "refused records"},
    },
)
async def submit(
    request: Request,
    node: NodeDep,
    agency: WriterDep,
    wait: bool = Query(False, description="Answer once integrated, with inclusion proofs"),
) -> Response:
    if agency != node.agency:
        raise ForbiddenError(f"this token writes for {agency}, not for {node.agency}")
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(415, "a batch is JSON: send it with Content-Type: application/json")
    body = await request.body()
    receipt = await anyio.to_thread.run_sync(partial(submit_and_wait, node, body, wait=wait))
    status = 202 if receipt.waited and not receipt.integrated else 200
    return Response(encode_receipt(receipt), status_code=status, media_type="application/json")


def _record_view(
    node: Node, caller: Caller, path: str, index: int, entry: bytes, tree_size: int
) -> dict[str, Any]:
    """A record's view, once its read is in the access record."""
    from pel.ledger.merkle.hashing import hash_leaf

    record = json.loads(entry)
    record_read(
        node.engine,
        caller.who(),
        path,
        pwid=record.get("pwid"),
        origin=node.settings.origin,
        first=index,
        end=index + 1,
        records=[f"{node.settings.origin}#{index} {record.get('id')}"],
    )
    return {
        "index": index,
        "leaf_hash": b64(hash_leaf(entry)),
        "integrated": index < tree_size,
        "record": record,
    }


@router.get(
    "/{index}",
    summary="A record by its log index",
    response_model=RecordView,
)
def by_index(
    request: Request,
    log: LogDep,
    node: NodeDep,
    caller: CallerDep,
    index: Annotated[Index, FPath(ge=0, le=MAX_INDEX, description="log index")],
) -> dict[str, Any]:
    entry = log.entry(index)
    return _record_view(node, caller, request.url.path, index, entry, log.tree_size())


@router.get(
    "/{issuer}/{record_id}",
    summary="A record by its (issuer, id)",
    response_model=RecordView,
)
def by_id(
    issuer: str, record_id: str, request: Request, log: LogDep, node: NodeDep, caller: CallerDep
) -> dict[str, Any]:
    from pel.ledger.errors import NotFoundError

    if issuer != node.agency:
        raise NotFoundError(f"this log holds records of {node.agency} only, not of {issuer!r}")
    index, entry = log.find(record_id)
    return _record_view(node, caller, request.url.path, index, entry, log.tree_size())
