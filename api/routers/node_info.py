"""``/v1/node``, health and metrics: what a peer or operator needs to know of this node."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pel.api.deps import NodeDep
from pel.api.schemas import Health, NodeInfo

router = APIRouter(tags=["node"])


@router.get(
    "/v1/node", summary="Origin, keys and tree size of this node's log", response_model=NodeInfo
)
def node_info(node: NodeDep) -> dict[str, Any]:
    next_index, tree_size = node.log.state()
    return {
        "agency": node.agency,
        "origin": node.settings.origin,
        "log_vkey": node.log_signer.vkey,
        "issuer_key": node.issuer_public_key.to_base64(),
        "witness_vkey": node.witness.signer.vkey,
        "tree_size": tree_size,
        "pending": next_index - tree_size,
        "witnessing": node.witnessed(),
        **node.mirror_status(),
        "tiles_prewarm": node.prewarm.status(),
    }


@router.get("/healthz", summary="Liveness: the database answers", response_model=Health)
def health(node: NodeDep) -> dict[str, Any]:
    _next_index, tree_size = node.log.state()
    return {"status": "ok", "tree_size": tree_size}


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
