"""``/v1/proof``: RFC 9162 inclusion and consistency proofs, read from stored tiles."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Query

from api.deps import LogDep

router = APIRouter(prefix="/v1/proof", tags=["proofs"])


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/inclusion", summary="Inclusion proof of entry `index` in the tree of `tree_size`")
def inclusion(
    log: LogDep, index: int = Query(..., ge=0), tree_size: int = Query(..., ge=1)
) -> dict[str, Any]:
    proof = log.inclusion_proof(index, tree_size)
    return {"index": index, "tree_size": tree_size, "hashes": _b64(proof)}


@router.get("/consistency", summary="Consistency proof from tree size `first` to `second`")
def consistency(
    log: LogDep, first: int = Query(..., ge=1), second: int = Query(..., ge=1)
) -> dict[str, Any]:
    proof = log.consistency_proof(first, second)
    return {"first": first, "second": second, "hashes": _b64(proof)}
