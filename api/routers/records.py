"""``/v1/records``: submit record batches, read records back."""

from __future__ import annotations

import base64
import json
from binascii import b2a_base64
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as FPath
from fastapi.responses import JSONResponse, Response

from pel.api.deps import MAX_INDEX, Index, LogDep, NodeDep, WriterDep
from pel.api.schemas import BEARER, RecordView, SubmitResult
from pel.ledger.records.entries import Appended
from pel.node.errors import ForbiddenError

router = APIRouter(prefix="/v1/records", tags=["records"])

RECEIPT_TIMEOUT = 30.0

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


def _receipts(appended: list[Appended]) -> bytes:
    """``{"records": [{"index", "leaf_hash", "id", "duplicate"}, …]}`` as JSON, written
    directly: a node answers thousands of these a second, and building dictionaries
    for a JSON encoder cost more than the rest of the answer."""
    quote = json.encoder.encode_basestring  # escapes as json.dumps(ensure_ascii=False)
    parts = [
        f'{{"index":{a.index},"leaf_hash":"{b2a_base64(a.leaf_hash, newline=False).decode()}",'
        f'"id":{quote(a.record_id)},"duplicate":{"true" if a.duplicate else "false"}}}'
        for a in appended
    ]
    return ('{"records":[' + ",".join(parts) + "]}").encode()


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
    appended = await anyio.to_thread.run_sync(node.submit_json, await request.body())
    if not wait:
        return Response(_receipts(appended), media_type="application/json")
    out: dict[str, Any] = {
        "records": [
            {
                "index": a.index,
                "leaf_hash": b64(a.leaf_hash),
                "id": a.record_id,
                "duplicate": a.duplicate,
            }
            for a in appended
        ]
    }
    needed = max(a.index for a in appended) + 1
    sequencer = node.sequencer
    done = sequencer is not None and await anyio.to_thread.run_sync(
        sequencer.wait_for, needed, RECEIPT_TIMEOUT
    )
    if not done:
        out["integrated"] = False
        return JSONResponse(out, status_code=202)
    latest = node.log.latest()
    assert latest is not None
    size = latest.checkpoint.size

    def proofs() -> list[list[str]]:
        return [[b64(h) for h in node.log.inclusion_proof(a.index, size)] for a in appended]

    for rec, proof in zip(out["records"], await anyio.to_thread.run_sync(proofs), strict=True):
        rec["inclusion_proof"] = proof
    out.update(integrated=True, tree_size=size, checkpoint=latest.note.decode())
    return JSONResponse(out)


def _record_view(index: int, entry: bytes, tree_size: int) -> dict[str, Any]:
    from pel.ledger.merkle.hashing import hash_leaf

    return {
        "index": index,
        "leaf_hash": b64(hash_leaf(entry)),
        "integrated": index < tree_size,
        "record": json.loads(entry),
    }


@router.get("/{index}", summary="A record by its log index", response_model=RecordView)
def by_index(
    log: LogDep,
    index: Annotated[Index, FPath(ge=0, le=MAX_INDEX, description="log index")],
) -> dict[str, Any]:
    return _record_view(index, log.entry(index), log.tree_size())


@router.get(
    "/{issuer}/{record_id}", summary="A record by its (issuer, id)", response_model=RecordView
)
def by_id(issuer: str, record_id: str, log: LogDep, node: NodeDep) -> dict[str, Any]:
    from pel.ledger.errors import NotFoundError

    if issuer != node.agency:
        raise NotFoundError(f"this log holds records of {node.agency} only, not of {issuer!r}")
    index, entry = log.find(record_id)
    return _record_view(index, entry, log.tree_size())
