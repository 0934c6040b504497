"""The web pages (explorer at ``/``, verifier at ``/verify``, the worker's page at
``/worker``) and ``/v1/federation``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from pel.api.deps import NodeDep
from pel.api.schemas import TrustDocument
from pel.ledger.errors import NotFoundError
from pel.node.web_pages import current_trust_document, page, verifier_page

router = APIRouter(tags=["web"])
_NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/", include_in_schema=False)
def explorer() -> HTMLResponse:
    return HTMLResponse(page("explorer.html"), headers=_NO_CACHE)


@router.get("/verify", include_in_schema=False)
def verifier(node: NodeDep) -> HTMLResponse:
    return HTMLResponse(verifier_page(current_trust_document(node.directory)), headers=_NO_CACHE)


@router.get("/worker", include_in_schema=False)
def worker(node: NodeDep) -> HTMLResponse:
    doc = current_trust_document(node.directory)
    return HTMLResponse(verifier_page(doc, "worker.html"), headers=_NO_CACHE)


@router.get(
    "/v1/federation",
    summary="The node's current trust list (signed version, public data)",
    response_model=TrustDocument,
    responses={404: {"description": "the node belongs to no federation"}},
)
def federation(node: NodeDep) -> dict[str, Any]:
    doc = current_trust_document(node.directory)
    if doc is None:
        raise NotFoundError("this node holds no trust list")
    return doc
