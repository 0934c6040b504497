"""The composition root: the one module of node/ that may see api/.

Dependencies point one way (api → node → ledger → crypto); building the HTTP
application for a node is the single place where the node reaches up, so that
``pel serve`` and ``pel quickstart`` can run what api/ defines.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from pel.api.app import create_app
from pel.node.agency_node import Node


def build_app(node: Node, *, check: bool = True) -> FastAPI:
    """The node's FastAPI application (``check=False`` when the caller already checked the log)."""
    return create_app(node, check=check)


def make_server(node: Node, *, host: str, port: int, check: bool = True) -> uvicorn.Server:
    """A uvicorn server for the node's application, not yet started."""
    config = uvicorn.Config(build_app(node, check=check), host=host, port=port, log_level="warning")
    return uvicorn.Server(config)
