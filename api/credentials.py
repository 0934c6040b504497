"""Credentials travel only in headers: a token in a URL is refused and never logged.

URLs end up in access logs, proxies' logs and browser histories, so a query string
that carries a credential (a parameter named like one, or a value that is a pel token)
is answered 400 ``token_in_url`` before any routing, and the access log is kept free of
query strings altogether, which covers the request that was refused.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from pel.api.limits import send_error
from pel.node.access.tokens import TOKEN_PREFIX

Scope = dict[str, Any]

CREDENTIAL_NAMES = frozenset(
    {"token", "access_token", "auth", "authorization", "bearer", "key", "api_key", "password"}
)


def carries_credential(query_string: bytes) -> bool:
    """Whether a raw query string names or holds a credential."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return any(
        name.lower() in CREDENTIAL_NAMES or value.startswith(TOKEN_PREFIX) for name, value in pairs
    )


class NoCredentialsInURL:
    """Pure ASGI middleware: 400 ``token_in_url`` to a request whose URL carries a credential."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope.get("query_string")
            and carries_credential(scope["query_string"])
        ):
            await send_error(
                send,
                400,
                "token_in_url",
                "credentials go in the Authorization header, never in the URL; "
                "this one is now in someone's logs: replace it",
            )
            return
        await self.app(scope, receive, send)


class DropQueryStrings(logging.Filter):
    """Cut the query string from uvicorn's access-log lines (``client, method, path, …``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def keep_query_strings_out_of_access_logs() -> None:
    """Install ``DropQueryStrings`` on uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryStrings) for f in access.filters):
        access.addFilter(DropQueryStrings())
