"""The access record: every read of personal data, kept in the node's own database.

Written before the answer leaves (a read that could not be recorded is not served),
never in the public log. A worker (with their holder key) or the agency's admin lists
the reads that concerned one PWID (``GET /v1/pwids/{pwid}/access-log``): the reads
that named the PWID, and the reads of entry bundles whose index range held one of
the PWID's records (in this node's log or a log it mirrors).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from pel.ledger.merkle.tiles import TILE_WIDTH
from pel.ledger.storage.models import AccessRow
from pel.node.agency_node import Node

ACCESS = AccessRow.__table__
MAX_LISTED = 1000


def record_read(
    engine: Engine,
    who: str,
    path: str,
    *,
    pwid: str | None = None,
    origin: str | None = None,
    first: int | None = None,
    end: int | None = None,
    records: Iterable[str] = (),
) -> None:
    """Record one read: of ``pwid``'s ``records``, or of entries ``[first, end)`` of
    ``origin``'s log."""
    with engine.begin() as conn:
        conn.execute(
            ACCESS.insert().values(
                at=dt.datetime.now(dt.UTC),
                who=who[:160],
                path=path[:512],
                pwid=pwid,
                origin=origin,
                first=first,
                end=end,
                records=",".join(records),
            )
        )


def bundle_range(index: int, width: int | None) -> tuple[int, int]:
    """The entry indexes ``[first, end)`` an entry bundle holds."""
    first = index * TILE_WIDTH
    return first, first + (width or TILE_WIDTH)


def reads_of(node: Node, pwid: str) -> list[dict[str, Any]]:
    """The reads that concerned ``pwid``, newest first (at most ``MAX_LISTED``)."""
    held: dict[str, list[tuple[int, str]]] = {}
    for index, data in node.log.pwid_entries(pwid):
        held.setdefault(node.settings.origin, []).append((index, _record_id(data)))
    for origin, index, data in node.mirrors.records_of(pwid):
        held.setdefault(origin, []).append((index, _record_id(data)))
    # A read that held index i started at i (one record) or at its entry bundle's
    # first index: one IN list per log, which an index on (origin, first) answers.
    ranges = [
        and_(
            ACCESS.c.origin == origin,
            ACCESS.c.first.in_(
                sorted({i for i, _ in items} | {i - i % TILE_WIDTH for i, _ in items})
            ),
        )
        for origin, items in held.items()
    ]
    where = or_(ACCESS.c.pwid == pwid, *ranges)
    with node.engine.connect() as conn:
        rows = conn.execute(select(ACCESS).where(where).order_by(ACCESS.c.id.desc())).all()
    out: list[dict[str, Any]] = []
    for r in rows:
        if r.pwid == pwid:
            records = [x for x in r.records.split(",") if x]
        else:
            records = [
                f"{r.origin}#{index} {rid}"
                for index, rid in held.get(r.origin, [])
                if r.first <= index < r.end
            ]
            if not records:
                continue
        if len(out) == MAX_LISTED:
            break
        out.append(
            {
                "at": _utc(r.at),
                "who": r.who,
                "what": r.path,
                "records": records,
            }
        )
    return out


def _record_id(data: bytes) -> str:
    return str(json.loads(data)["id"])


def _utc(t: dt.datetime) -> str:
    # SQLite hands back naive datetimes: they were written in UTC.
    t = t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")
