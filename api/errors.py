"""One place that turns errors into HTTP answers: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pel.crypto.errors import PelError

log = logging.getLogger("pel.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


_PLACES = {"query": "query parameter", "path": "path parameter", "header": "header"}


def request_problem(error: dict) -> str:
    """One request-validation problem in words: where it is, then what is wrong, without
    pydantic's phrasing ("Field required", "Value error, …")."""
    place, *rest = [str(p) for p in error.get("loc", ())] or ["request"]
    name = ".".join(rest)
    where = f"{_PLACES[place]} {name!r}" if place in _PLACES and name else ".".join([place, *rest])
    if error.get("type") == "missing":
        return f"missing {where}"
    message = str(error.get("msg")).removeprefix("Value error, ")
    return f"{where}: {message}"


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PelError)
    async def _pel(_: Request, exc: PelError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        body = exc.to_dict()
        return error_response(exc.http_status, body.pop("code"), body.pop("message"), **body)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", request_problem(exc.errors()[0]))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # The details stay in the node's log; the client learns only that it was not its fault.
        log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        return error_response(500, "internal_error", "the node failed to answer; try again later")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        # The router's own headers go with the answer: a 405 names the methods (``Allow``).
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)
