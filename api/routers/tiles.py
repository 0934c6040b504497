"""The C2SP tlog-tiles read API: ``/checkpoint``, ``/tile/<L>/<N>[.p/<W>]``, entry bundles."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from pel.api.deps import LogDep, NodeDep
from pel.api.schemas import BINARY, TEXT
from pel.ledger.errors import NotFoundError, TileError
from pel.ledger.merkle.tiles import parse_tile_path
from pel.node import metrics
from pel.node.access.access_log import bundle_range, record_read

router = APIRouter(tags=["tlog-tiles"])

IMMUTABLE = "public, max-age=31536000, immutable"
# Partial tiles are immutable too (a width never changes meaning), but may vanish once full.
PARTIAL = "public, max-age=3600"
CHECKPOINT = "no-cache, max-age=1"
# Entry bundles carry personal data and are served only with credentials: no shared cache.
PRIVATE = "private, max-age=3600"


@router.get(
    "/checkpoint",
    summary="The latest signed checkpoint (C2SP tlog-checkpoint)",
    response_class=Response,
    responses={200: {"content": TEXT, "description": "a signed note"}},
)
async def checkpoint(log: LogDep) -> Response:
    latest = log.latest()
    if latest is None:
        raise NotFoundError("the log has no checkpoint yet")
    note = log.cosigned_note(latest.checkpoint.size)
    return Response(
        note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": CHECKPOINT}
    )


@router.get(
    "/tile/{path:path}",
    summary="A Merkle tile or an entry bundle (C2SP tlog-tiles)",
    response_class=Response,
    responses={200: {"content": BINARY, "description": "tile or entry bundle"}},
)
async def tile(path: str, request: Request, log: LogDep, node: NodeDep) -> Response:
    try:
        kind, level, index, width = parse_tile_path("tile/" + path)
    except TileError as exc:
        raise NotFoundError(f"not a tile path: {exc.message}") from None
    if kind != "entries":
        assert level is not None
        metrics.TILES_SERVED.labels("hash").inc()
        return Response(
            log.tile(level, index, width),
            media_type="application/octet-stream",
            headers={"Cache-Control": IMMUTABLE if width is None else PARTIAL},
        )
    who = request.state.caller.who()

    def read() -> bytes:
        data = log.entry_bundle(index, width)
        first, end = bundle_range(index, width)
        record_read(
            node.engine, who, request.url.path, origin=node.settings.origin, first=first, end=end
        )
        return data

    data = await anyio.to_thread.run_sync(read)
    metrics.TILES_SERVED.labels("entries").inc()
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": PRIVATE})
