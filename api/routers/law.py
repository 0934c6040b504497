"""``/v1/law``: the state's scheme rules and the agreements this log holds, as of a date.

Rules and agreements are public law, not personal data: these reads need no
credentials. Only records already covered by a checkpoint are served, so every answer
can be checked against the log (``index``: an inclusion proof from ``/v1/proof``).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query

from pel.api.deps import NodeDep
from pel.ledger.errors import RecordError
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.records import encode_entry
from pel.node.law.publish import law_view

router = APIRouter(prefix="/v1/law", tags=["law"])

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
AtQuery = Annotated[
    str | None, Query(description="The date the law is read at, YYYY-MM-DD (default: today, UTC)")
]


def _day(at: str | None) -> str:
    if at is None:
        return dt.datetime.now(dt.UTC).date().isoformat()
    try:
        if not _DATE.fullmatch(at):
            raise ValueError
        dt.date.fromisoformat(at)
    except ValueError:
        raise RecordError(
            f"{at!r} is not a date: YYYY-MM-DD", code="bad_date", field="at"
        ) from None
    return at


@router.get("/rules", summary="This state's scheme rules in force at a date")
async def rules(node: NodeDep, at: AtQuery = None) -> dict[str, Any]:
    day = _day(at)
    view = await anyio.to_thread.run_sync(law_view, node)
    return view.rules_at(day)


@router.get("/agreements", summary="The agreements this log holds, and whether each is in force")
async def agreements(node: NodeDep, at: AtQuery = None) -> dict[str, Any]:
    day = _day(at)
    view = await anyio.to_thread.run_sync(law_view, node)
    return {"agency": node.agency, "at": day, "agreements": view.agreements_at(day)}


@router.get(
    "/agreements/{issuer}/{record_id}",
    summary="One agreement as this log holds it: the record, its index and leaf hash",
)
async def agreement(node: NodeDep, issuer: str, record_id: str) -> dict[str, Any]:
    view = await anyio.to_thread.run_sync(law_view, node)
    pub = view.agreement(issuer, record_id)
    leaf = hash_leaf(encode_entry(pub.record))
    return {
        "record": dict(pub.record),
        "index": pub.index,
        "leaf_hash": base64.b64encode(leaf).decode(),
        "tree_size": node.log.tree_size(),
    }
