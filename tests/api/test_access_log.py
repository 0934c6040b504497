"""The access record: every read of a worker's records is kept in the node's own
database (not its public log), and only that worker (holder key) or the agency's
admin can list it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.crypto.keys import SigningKey
from pel.crypto.request import sign_request
from pel.node.access.tokens import create_token, token_hash
from pel.node.agency_node import Node
from tests import factories as f

LOG = f"/v1/pwids/{f.PWID}/access-log"


class Reads:
    def __init__(self, node: Node, client: TestClient) -> None:
        self.node = node
        self.c = client
        self.keys = {f.PWID: SigningKey.generate(), f.PWID2: SigningKey.generate()}
        self.tokens = {
            role: create_token(node.tokens, node.agency, f"{role} desk", role=role)
            for role in ("writer", "reader", "admin", "auditor")
        }

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def holder(self, pwid: str, path: str) -> dict[str, str]:
        now, here = int(time.time()), self.node.agency
        return {"Authorization": sign_request(self.keys[pwid], "GET", path, now, audience=here)}

    def listing(self, pwid: str, headers: dict[str, str] | None = None) -> Any:
        path = f"/v1/pwids/{pwid}/access-log"
        return self.c.get(path, headers=self.holder(pwid, path) if headers is None else headers)


@pytest.fixture
def reads(sqlite_node: tuple[Node, str]) -> Iterator[Reads]:
    node, _ = sqlite_node
    with TestClient(create_app(node)) as c:
        r = Reads(node, c)
        records = []
        for pwid in (f.PWID, f.PWID2):
            enrol = f.enrolment(pwid=pwid)
            enrol["body"]["home_country"] = pwid[:2]
            enrol["body"]["holder_key"] = r.keys[pwid].public_key.to_base64()
            records += [enrol, f.contribution(pwid=pwid), f.contribution(pwid=pwid)]
        got = c.post("/v1/records?wait=true", json=records, headers=r.bearer("writer"))
        assert got.status_code == 200, got.text
        r.ids = [x["id"] for x in got.json()["records"]]  # type: ignore[attr-defined]
        yield r


def test_every_read_is_listed_for_the_worker_it_concerns(reads: Reads) -> None:
    r = reads
    size_before = r.node.log.state()
    assert r.listing(f.PWID).json() == {"pwid": f.PWID, "reads": []}
    assert r.c.get("/v1/records/1", headers=r.bearer("reader")).status_code == 200
    assert r.c.get("/tile/entries/000.p/6", headers=r.bearer("auditor")).status_code == 200
    assert r.c.get("/v1/records/4", headers=r.bearer("reader")).status_code == 200  # PWID2's

    mine = r.listing(f.PWID).json()["reads"]
    # Newest first: the auditor's bundle (all three records), the reader's record 1,
    # and the worker's own first listing.
    assert [x["what"] for x in mine] == ["/tile/entries/000.p/6", "/v1/records/1", LOG]
    bundle, one, own = mine
    auditor_id = token_hash(r.tokens["auditor"])[:12]
    assert bundle["who"] == f"auditor auditor desk (token {auditor_id})"
    assert bundle["records"] == [f"perkeso.gov.my/pel#{i} {r.ids[i]}" for i in range(3)]  # type: ignore[attr-defined]
    assert one["who"].startswith("MY-PERKESO staff (reader, token ")
    assert one["records"] == [f"perkeso.gov.my/pel#1 {r.ids[1]}"]  # type: ignore[attr-defined]
    assert own["who"] == "the worker (holder key)"
    assert all(x["at"].endswith("Z") for x in mine)
    # The other worker sees the bundle (it held their records) and the read of theirs.
    theirs = r.listing(f.PWID2).json()["reads"]
    assert [x["what"] for x in theirs] == ["/v1/records/4", "/tile/entries/000.p/6"]
    assert theirs[1]["records"] == [f"perkeso.gov.my/pel#{i} {r.ids[i]}" for i in range(3, 6)]  # type: ignore[attr-defined]
    # None of it went into the public log.
    assert r.node.log.state() == size_before


def test_only_the_worker_or_the_admin_reads_the_record(reads: Reads) -> None:
    r = reads
    assert r.listing(f.PWID, r.bearer("admin")).status_code == 200
    assert r.listing(f.PWID, {}).status_code == 401
    for role in ("reader", "writer", "auditor"):
        assert r.listing(f.PWID, r.bearer(role)).status_code == 403, role
    # Another worker's key, signed for this worker's listing: nothing.
    now, here = int(time.time()), r.node.agency
    other = sign_request(r.keys[f.PWID2], "GET", LOG, now, audience=here)
    got = r.listing(f.PWID, {"Authorization": other})
    assert got.status_code == 403 and got.json()["error"]["code"] == "forbidden"
    # A member node's signed request does not open it either.
    member = sign_request(r.node.issuer_key, "GET", LOG, now, audience=here, agency=here)
    assert r.listing(f.PWID, {"Authorization": member}).status_code == 403
    # The admin's listing of a PWID without records is empty, not an error.
    assert r.listing("TH-0000000000000000", r.bearer("admin")).json()["reads"] == []
