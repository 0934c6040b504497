"""``/v1/pwids/{pwid}/access-log``: who read a worker's records here, and when.

Only for the worker (a request signed with their holder key) and this agency's admin:
the read policy (``node.access.policy``) has granted the request before this runs. The
listing is itself a read of personal data, and is recorded like one.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel

from pel.api.deps import CallerDep, NodeDep
from pel.ledger.errors import RecordError
from pel.ledger.records.fields import check_pwid
from pel.node.access.access_log import reads_of, record_read

router = APIRouter(prefix="/v1/pwids", tags=["access"])


class Read(BaseModel):
    at: str
    who: str
    what: str
    records: list[str]


class AccessLog(BaseModel):
    pwid: str
    reads: list[Read]


@router.get(
    "/{pwid}/access-log",
    summary="Who read this worker's records on this node, newest first",
    response_model=AccessLog,
)
async def access_log(pwid: str, request: Request, node: NodeDep, caller: CallerDep) -> Any:
    try:
        check_pwid(pwid)
    except ValueError:
        raise RecordError(f"{pwid[:40]!r} is not a PWID", code="bad_pwid") from None

    def work() -> list[dict[str, Any]]:
        reads = reads_of(node, pwid)
        record_read(node.engine, caller.who(), request.url.path, pwid=pwid)
        return reads

    return {"pwid": pwid, "reads": await anyio.to_thread.run_sync(work)}
