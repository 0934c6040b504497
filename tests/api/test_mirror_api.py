"""``/mirror/<origin>/…`` and ``/v1/gossip`` through FastAPI's test client."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.ledger.merkle.tiles import decode_entry_bundle
from pel.node.agency_node import Node
from tests.ledger.test_mirror import ORIGIN, Source, mirror


@pytest.fixture
def copy(sqlite_node: tuple[Node, str]) -> Iterator[tuple[TestClient, Source]]:
    node, token = sqlite_node
    src = Source()
    src.grow(300)
    mirror(node.mirrors, src, step=100)
    with TestClient(create_app(node, start=False)) as c:
        c.headers["Authorization"] = f"Bearer {token}"  # entry bundles need credentials
        yield c, src


def test_the_copy_is_served_in_the_tlog_tiles_layout(copy: tuple[TestClient, Source]) -> None:
    c, src = copy
    r = c.get(f"/mirror/{ORIGIN}/checkpoint")
    assert r.status_code == 200 and r.content == src.note()
    assert r.headers["content-type"].startswith("text/plain")
    full = c.get(f"/mirror/{ORIGIN}/tile/0/000")
    assert full.content == b"".join(src.hashes.read_hashes([(0, i) for i in range(256)]))
    assert "immutable" in full.headers["cache-control"]
    level1 = c.get(f"/mirror/{ORIGIN}/tile/1/000.p/1")
    assert level1.content == src.hashes.read_hashes([(8, 0)])[0]
    bundle = c.get(f"/mirror/{ORIGIN}/tile/entries/001.p/44")
    assert decode_entry_bundle(bundle.content) == src.entries[256:300]
    assert "immutable" not in bundle.headers["cache-control"]
    hexed = hashlib.sha256(ORIGIN.encode()).hexdigest()
    assert c.get(f"/mirror/{hexed}/tile/entries/001.p/44").content == bundle.content


@pytest.mark.parametrize(
    "path",
    [
        f"/mirror/{ORIGIN}/tile/entries/001",  # beyond the mirror checkpoint
        f"/mirror/{ORIGIN}/tile/0/001.p/45",
        f"/mirror/{ORIGIN}/tile/0/01",  # not canonical
        f"/mirror/{ORIGIN}/tile/",
        "/mirror/cpf.gov.sg/pel/checkpoint",  # not mirrored
        "/mirror/cpf.gov.sg/pel/tile/0/000",
        f"/mirror/{ORIGIN}",
        "/mirror/",
    ],
)
def test_what_is_not_in_the_copy_is_404(copy: tuple[TestClient, Source], path: str) -> None:
    r = copy[0].get(path)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"


def test_gossip_is_checked_and_bounded(copy: tuple[TestClient, Source]) -> None:
    c, src = copy
    note = src.note().decode()
    r = c.post("/v1/gossip", json={"checkpoints": [note]})
    # This node has no trust list: it knows no log's key, so it compares nothing.
    assert r.status_code == 200
    assert r.json() == {"results": [{"origin": ORIGIN, "size": 300, "result": "unknown_log"}]}
    assert c.post("/v1/gossip", json={"checkpoints": [note] * 17}).status_code == 422
    r = c.post("/v1/gossip", json={"checkpoints": ["not a checkpoint"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_gossip"
    assert c.post("/v1/gossip", json={"notes": []}).status_code == 422
    info = c.get("/v1/node").json()
    assert info["mirrors"] == {} and info["flagged"] == []
