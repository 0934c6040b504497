"""The OpenAPI document as the API behaves: every error is ``{"error": {"code", "message"}}``.

FastAPI documents only the 200 and its own 422 shape (``HTTPValidationError``), which
this API never sends (``api.errors`` rewrites it). This module replaces that 422 with the
error model, adds a ``4XX`` answer with it to every operation, and gives the answers a
route declares without content the error model too.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from pel.node.access.policy import Need, need_for

ERROR_REF = "#/components/schemas/ErrorResponse"


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine-readable ``code`` and a sentence for a person."""

    code: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every 4xx answer (a refused batch adds ``records`` to ``error``)."""

    error: ErrorDetail


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": ERROR_REF}}}


ERROR_CONTENT = _error_content()
# Operations that need ``Authorization: Bearer <token>`` (or a signed request).
BEARER = [{"bearer": []}, {"signed": []}]
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "a token this node issued: writer, reader, admin or auditor",
    },
    "signed": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "a request signed, for this node and this body, by a member "
        "agency's issuer key (Pel-Agency agency=…,aud=…,time=…,nonce=…,body=…,sig=…) or by "
        "a worker's holder key (Pel-Holder aud=…,time=…,nonce=…,body=…,sig=…); "
        "see docs/access.md",
    },
}


def _secure(method: str, path: str, operation: dict[str, Any]) -> None:
    """State the read policy's answer (``node.access.policy``) for one operation: its
    credentials, and the 401 and 403 it may give."""
    if need_for(method, path)[0] is Need.PUBLIC:
        if path.startswith(("/tile/", "/mirror/")):
            operation["description"] = (
                "Checkpoints and hash tiles are public; entry bundles carry records and "
                "need credentials that may read a log's entries (see docs/access.md)."
            )
        return
    operation["security"] = BEARER
    responses = operation.setdefault("responses", {})
    responses.setdefault("401", {"description": "no credentials, or ones that do not verify"})
    responses.setdefault("403", {"description": "credentials that do not grant this request"})


def _describe(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, answer in responses.items():
        if status.startswith("4") and (
            "content" not in answer or "HTTPValidationError" in str(answer.get("content"))
        ):
            answer["content"] = _error_content()
    responses.setdefault(
        "4XX", {"description": "The request was refused", "content": _error_content()}
    )


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` describe the error answers (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemas["ErrorDetail"] = ErrorDetail.model_json_schema()
        schemas["ErrorResponse"] = ErrorResponse.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        schemas["ErrorResponse"].pop("$defs", None)
        doc["components"]["securitySchemes"] = SECURITY_SCHEMES
        for path, item in doc.get("paths", {}).items():
            for method, operation in item.items():
                _secure(method, path, operation)
                _describe(operation)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


class AppendedRecord(BaseModel):
    """One record of a batch: where it is in the log (``duplicate`` if it already was)."""

    index: int
    leaf_hash: str
    id: str
    duplicate: bool
    inclusion_proof: list[str] | None = None


class SubmitResult(BaseModel):
    """The answer to a batch; with ``wait=true`` also the checkpoint that covers it."""

    records: list[AppendedRecord]
    integrated: bool | None = None
    tree_size: int | None = None
    checkpoint: str | None = None


class RecordView(BaseModel):
    """A record as the log holds it."""

    index: int
    leaf_hash: str
    integrated: bool
    record: dict[str, Any]


class Witnessing(BaseModel):
    """The latest checkpoint's cosigners and whether they make the trust list's quorum."""

    size: int
    cosigners: list[str]
    quorum: int
    witnessed: bool


class Prewarm(BaseModel):
    """The pass that reads the stored tiles once after start-up (``idle`` when it is off)."""

    state: str
    bytes: int


class NodeInfo(BaseModel):
    """What a peer or an operator needs to know of a node."""

    agency: str
    origin: str
    log_vkey: str
    issuer_key: str
    witness_vkey: str
    tree_size: int
    pending: int
    witnessing: Witnessing
    mirrors: dict[str, dict[str, Any]]
    flagged: list[str]
    tiles_prewarm: Prewarm


class Health(BaseModel):
    """Liveness."""

    status: str
    tree_size: int


class GossipResult(BaseModel):
    """What one passed-on checkpoint was found to be."""

    origin: str | None
    size: int | None
    result: str


class GossipResults(BaseModel):
    """One result per checkpoint passed on, in order."""

    results: list[GossipResult]


class TrustDocument(BaseModel):
    """A signed version of the trust list as its file holds it."""

    trust_list: dict[str, Any]
    signatures: list[dict[str, Any]]


TEXT = {"text/plain": {"schema": {"type": "string"}}}
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
