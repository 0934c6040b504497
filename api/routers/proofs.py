"""``/v1/proof``: RFC 9162 inclusion and consistency proofs, read from stored tiles.

The handlers are ``async``: a proof is a few cached hashes and at most one small
indexed read, cheaper than the hop to a worker thread that a plain ``def`` costs.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from pel.api.deps import MAX_INDEX, Index, LogDep
from pel.node import metrics

router = APIRouter(prefix="/v1/proof", tags=["proofs"])


class InclusionProof(BaseModel):
    index: int
    tree_size: int
    hashes: list[str]


class ConsistencyProof(BaseModel):
    first: int
    second: int
    hashes: list[str]


def _json(value: dict[str, object]) -> Response:
    return Response(json.dumps(value, separators=(",", ":")), media_type="application/json")


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get(
    "/inclusion",
    summary="Inclusion proof of entry `index` in the tree of `tree_size`",
    response_model=InclusionProof,
)
async def inclusion(
    log: LogDep,
    index: Annotated[Index, Query(ge=0, le=MAX_INDEX)],
    tree_size: Annotated[Index, Query(ge=1, le=MAX_INDEX)],
) -> Response:
    proof = log.inclusion_proof(index, tree_size)
    metrics.PROOFS_SERVED.labels("inclusion").inc()
    return _json({"index": index, "tree_size": tree_size, "hashes": _b64(proof)})


@router.get(
    "/consistency",
    summary="Consistency proof from tree size `first` to `second`",
    response_model=ConsistencyProof,
)
async def consistency(
    log: LogDep,
    first: Annotated[Index, Query(ge=1, le=MAX_INDEX)],
    second: Annotated[Index, Query(ge=1, le=MAX_INDEX)],
) -> Response:
    proof = log.consistency_proof(first, second)
    metrics.PROOFS_SERVED.labels("consistency").inc()
    return _json({"first": first, "second": second, "hashes": _b64(proof)})
