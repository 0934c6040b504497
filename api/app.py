"""The FastAPI application factory: ``create_app(node)`` wires routers, errors, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from pel.api.api_docs import install_api_docs
from pel.api.credentials import NoCredentialsInURL, keep_query_strings_out_of_access_logs
from pel.api.deps import read_policy, single_query_values
from pel.api.errors import install_error_handlers
from pel.api.limits import BodyLimitMiddleware
from pel.api.routers import (
    access_log,
    decisions,
    index,
    law,
    mirror,
    proofs,
    pwids,
    records,
    tiles,
    web,
    witness,
)
from pel.api.routers import node_info as node_router
from pel.api.schemas import install_openapi
from pel.node.agency_node import Node


def create_app(node: Node, *, start: bool = True, check: bool = True) -> FastAPI:
    """An ASGI app serving ``node``.

    Args:
        node: The loaded node.
        start: Check the stored log and run the sequencer for the app's lifetime
            (tests that drive the sequencer by hand pass False).
        check: Run the start-up integrity check (``pel serve`` runs it first itself).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        keep_query_strings_out_of_access_logs()
        if start:
            node.start(check=check)
        try:
            yield
        finally:
            if start:
                node.stop()

    app = FastAPI(
        # FastAPI's own /docs and /redoc load their assets from CDNs: install_api_docs below.
        docs_url=None,
        redoc_url=None,
        title="pel node",
        summary=f"Portable Entitlements Ledger: the log of {node.agency}",
        version="1",
        lifespan=lifespan,
        dependencies=[Depends(read_policy), Depends(single_query_values)],
    )
    app.state.node = node
    install_api_docs(app, title=app.title)
    install_error_handlers(app)
    app.include_router(records.router)
    app.include_router(proofs.router)
    app.include_router(tiles.router)
    app.include_router(node_router.router)
    app.include_router(witness.router)
    app.include_router(mirror.router)
    app.include_router(web.router)
    app.include_router(pwids.router)
    app.include_router(law.router)
    app.include_router(access_log.router)
    app.include_router(index.router)
    app.include_router(decisions.router)
    install_openapi(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=node.settings.max_request_bytes)
    # The worker's page, served by one member's node, asks every member's node for the
    # worker's records. Credentials travel in the Authorization header only (no cookies),
    # so a page of another origin can use no credential it does not already hold.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET"],
        allow_headers=["Authorization"],
        expose_headers=["Pel-Pending", "Pel-Left-Out"],
    )
    app.add_middleware(NoCredentialsInURL)
    return app
