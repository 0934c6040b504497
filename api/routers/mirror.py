"""Mirrored logs under ``/mirror/<origin>/`` (C2SP tlog-tiles layout) and ``/v1/gossip``.

Origins hold '/' (``sso.go.th/pel``), so the path is split at its tlog-tiles part:
``…/checkpoint`` or the last ``/tile/``. C2SP tlog-mirror's prefix, the lowercase
hex SHA-256 of the origin, names the same copy.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from pel.api.deps import NodeDep
from pel.api.routers.tiles import CHECKPOINT, IMMUTABLE, PARTIAL, PRIVATE
from pel.api.schemas import BINARY, TEXT, GossipResults
from pel.ledger.errors import NotFoundError, TileError
from pel.ledger.merkle.tiles import parse_tile_path
from pel.node.access.access_log import bundle_range, record_read
from pel.node.peers.mirror_follower import MAX_GOSSIP_NOTES

router = APIRouter(tags=["tlog-mirror"])


@router.get(
    "/mirror/{path:path}",
    summary="A mirrored log's checkpoint, tiles and entry bundles",
    response_class=Response,
    responses={200: {"content": {**TEXT, **BINARY}, "description": "checkpoint or tile"}},
)
async def mirror(path: str, request: Request, node: NodeDep) -> Response:
    store = node.mirrors
    if path.endswith("/checkpoint"):
        origin = store.origin_named(path.removesuffix("/checkpoint"))
        note = await anyio.to_thread.run_sync(store.checkpoint, origin)
        return Response(
            note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": CHECKPOINT}
        )
    name, sep, rest = path.rpartition("/tile/")
    if not sep or not name:
        raise NotFoundError(f"{path!r} is not a mirrored log's tlog-tiles path")
    try:
        kind, level, index, width = parse_tile_path("tile/" + rest)
    except TileError as exc:
        raise NotFoundError(f"not a tile path: {exc.message}") from None
    origin = store.origin_named(name)
    if kind == "entries":
        who = request.state.caller.who()

        def read() -> bytes:
            data = store.entry_bundle(origin, index, width)
            first, end = bundle_range(index, width)
            record_read(node.engine, who, request.url.path, origin=origin, first=first, end=end)
            return data

        return Response(
            await anyio.to_thread.run_sync(read),
            media_type="application/octet-stream",
            headers={"Cache-Control": PRIVATE},
        )
    else:
        assert level is not None
        data = await anyio.to_thread.run_sync(store.tile, origin, level, index, width)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": IMMUTABLE if width is None else PARTIAL},
    )


class Gossip(BaseModel):
    """Signed checkpoint notes of any member's log, each as its text."""

    checkpoints: list[str] = Field(max_length=MAX_GOSSIP_NOTES)


@router.post(
    "/v1/gossip",
    summary="Compare other nodes' checkpoints with this node's mirrors",
    response_model=GossipResults,
)
async def gossip(body: Gossip, node: NodeDep) -> dict[str, Any]:
    results = await anyio.to_thread.run_sync(node.gossip, body.checkpoints)
    return {"results": results}
