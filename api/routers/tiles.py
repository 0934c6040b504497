"""The C2SP tlog-tiles read API: ``/checkpoint``, ``/tile/<L>/<N>[.p/<W>]``, entry bundles."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from pel.api.deps import LogDep
from pel.api.schemas import BINARY, TEXT
from pel.ledger.errors import NotFoundError, TileError
from pel.ledger.merkle.tiles import parse_tile_path
from pel.node import metrics

router = APIRouter(tags=["tlog-tiles"])

IMMUTABLE = "public, max-age=31536000, immutable"
# Partial tiles are immutable too (a width never changes meaning), but may vanish once full.
PARTIAL = "public, max-age=3600"
CHECKPOINT = "no-cache, max-age=1"


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
async def tile(path: str, log: LogDep) -> Response:
    try:
        kind, level, index, width = parse_tile_path("tile/" + path)
    except TileError as exc:
        raise NotFoundError(f"not a tile path: {exc.message}") from None
    data = log.entry_bundle(index, width) if kind == "entries" else log.tile(level, index, width)
    metrics.TILES_SERVED.labels("entries" if kind == "entries" else "hash").inc()
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": IMMUTABLE if width is None else PARTIAL},
    )
