"""``/v1/index/{pwid}``: the complete list of a worker's log indexes in this log up to a
checkpoint, with its proof against the index root that checkpoint commits to.

The answer holds log indexes and hashes only (no record), and the checkpoint with its
cosignatures, so a client checks it offline (``ledger.index.verify_index_proof``). A
PWID with no records gets an empty list and the proof of its absence.
"""

from __future__ import annotations

import base64
from typing import Annotated

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from pel.api.deps import MAX_INDEX, Index, LogDep
from pel.ledger.errors import NotFoundError, RecordError
from pel.ledger.records.fields import check_pwid

router = APIRouter(prefix="/v1/index", tags=["index"])


class IndexAnswer(BaseModel):
    origin: str
    pwid: str
    size: int
    index_root: str
    checkpoint: str
    proof: dict[str, object]


@router.get(
    "/{pwid}",
    summary="All of a worker's log indexes up to checkpoint `size` (default: the latest), "
    "with the index proof",
    response_model=IndexAnswer,
)
async def index_lookup(
    pwid: str,
    log: LogDep,
    size: Annotated[Index | None, Query(ge=1, le=MAX_INDEX)] = None,
) -> JSONResponse:
    try:
        check_pwid(pwid)
    except ValueError:
        raise RecordError(f"{pwid[:40]!r} is not a PWID", code="bad_pwid") from None

    def work() -> dict[str, object]:
        at = size
        if at is None:
            latest = log.latest()
            if latest is None:
                raise NotFoundError("the log has no checkpoint yet")
            at = latest.checkpoint.size
        proof = log.index_proof(pwid, at)
        return {
            "origin": log.origin,
            "pwid": pwid,
            "size": at,
            "index_root": base64.b64encode(log.index_root(at)).decode(),
            "checkpoint": log.cosigned_note(at).decode(),
            "proof": proof.to_json(),
        }

    return JSONResponse(await anyio.to_thread.run_sync(work))
