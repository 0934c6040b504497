"""Typed dependencies of the routers: the node, its log, the read policy and the caller."""

from __future__ import annotations

import time
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Request
from pydantic import BeforeValidator

from pel.ledger.tlog.log import Log
from pel.node.access.policy import Caller, Need, authorise, is_signed, need_for
from pel.node.agency_node import Node


# ``async`` so FastAPI calls them in the event loop instead of a worker thread: they
# only read attributes, and a thread hop per request costs more than the work.
async def get_node(request: Request) -> Node:
    return request.app.state.node  # type: ignore[no-any-return]


async def get_log(request: Request) -> Log:
    return request.app.state.node.log  # type: ignore[no-any-return]


async def read_policy(request: Request) -> None:
    """Apply ``node.access.policy``'s policy to every route (an app-wide dependency, solved
    before the route's own parameters are checked): 401 or 403 unless the request is
    public or granted; the granted caller is kept in ``request.state.caller``."""
    path = request.url.path
    if need_for(request.method, path)[0] is Need.PUBLIC:
        return  # no thread hop for the hot public reads (tiles, proofs, checkpoints)
    node: Node = request.app.state.node
    header = request.headers.get("authorization")
    # A signed request covers its query as sent and its body; the route reads the same
    # body again (Starlette keeps it).
    query = request.scope.get("query_string", b"").decode("latin-1")
    body = await request.body() if is_signed(header) else b""
    request.state.caller = await anyio.to_thread.run_sync(
        lambda: authorise(
            node, request.method, path, header, now=int(time.time()), query=query, body=body
        )
    )


async def get_caller(request: Request) -> Caller:
    """The caller ``read_policy`` granted (only on routes that need credentials)."""
    caller = getattr(request.state, "caller", None)
    if caller is None:  # a route the policy calls public cannot ask who called
        raise RuntimeError(f"{request.url.path} is public in the read policy")
    return caller  # type: ignore[no-any-return]


async def writer_agency(request: Request) -> str:
    """The agency of the granted writer (the policy has checked the token's role)."""
    return (await get_caller(request)).name


# The largest index or tree size a BIGINT column holds: larger numbers in a request are
# refused as invalid (422) before they reach the database driver.
MAX_INDEX = 2**63 - 1


def _canonical_decimal(value: object) -> object:
    # Pydantic would read "+3", " 3", "03", "3_000" and "3.0" as 3: one number, one spelling.
    if isinstance(value, str) and not (
        value.isascii() and value.isdigit() and (value == "0" or value[0] != "0")
    ):
        raise ValueError("must be a decimal number: digits only, no sign or leading zeros")
    return value


# An index or a tree size in a path or query: canonical decimal, 0 … MAX_INDEX.
Index = Annotated[int, BeforeValidator(_canonical_decimal)]


async def single_query_values(request: Request) -> None:
    """Refuse a query parameter given twice (``?tree_size=5&tree_size=7``): which one
    counts would be the server's guess."""
    names = [name for name, _ in request.query_params.multi_items()]
    if len(names) != len(set(names)):
        twice = next(n for n in names if names.count(n) > 1)
        raise HTTPException(422, f"query parameter {twice!r} is given more than once")


NodeDep = Annotated[Node, Depends(get_node)]
LogDep = Annotated[Log, Depends(get_log)]
WriterDep = Annotated[str, Depends(writer_agency)]
CallerDep = Annotated[Caller, Depends(get_caller)]
