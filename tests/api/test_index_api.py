"""``GET /v1/index/{pwid}``: a worker's complete list of log indexes at a checkpoint, with
a proof that verifies offline against the index root the signed checkpoint commits to;
a PWID without records gets an empty list with the proof of its absence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.ledger.errors import RootMismatchError
from pel.ledger.index import IndexProof, parse_extension, verify_index_proof
from pel.ledger.tlog.checkpoint import open_checkpoint
from pel.node.agency_node import Node
from tests import factories as f


@pytest.fixture
def client(sqlite_node: tuple[Node, str]) -> Iterator[TestClient]:
    node, token = sqlite_node
    with TestClient(create_app(node)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        c.node = node  # type: ignore[attr-defined]
        yield c


def checked(c: TestClient, pwid: str, size: int | None = None) -> tuple[IndexProof, int]:
    """Fetch the answer and verify it as an offline client would: the checkpoint's log
    signature, the index root in its extension line, then the proof."""
    r = c.get(f"/v1/index/{pwid}", params={} if size is None else {"size": size})
    assert r.status_code == 200, r.text
    body = r.json()
    node: Node = c.node  # type: ignore[attr-defined]
    cp = open_checkpoint(body["checkpoint"].encode(), node.log.log_key).checkpoint
    root = parse_extension(cp.extensions)
    assert root is not None and cp.size == body["size"]
    proof = IndexProof.from_json(body["proof"])
    verify_index_proof(proof, pwid, root)
    return proof, cp.size


def test_lookup_lists_every_index_with_a_proof_and_absence(client: TestClient) -> None:
    drafts = [f.contribution(pwid=f.PWID2 if i % 3 else f.PWID) for i in range(9)]
    client.post("/v1/records?wait=true", json=drafts[:5])
    client.post("/v1/records?wait=true", json=drafts[5:])
    proof, size = checked(client, f.PWID)
    assert size == 9 and proof.indexes == (0, 3, 6)
    old, old_size = checked(client, f.PWID, 5)
    assert old_size == 5 and old.indexes == (0, 3)
    other, _ = checked(client, f.PWID2)
    assert other.indexes == (1, 2, 4, 5, 7, 8)
    nobody = "TH-0000000000000000"
    absent, _ = checked(client, nobody)
    assert absent.indexes == ()
    # The answer for one worker does not pass for another, nor cut short.
    root = client.node.log.index_root(9)  # type: ignore[attr-defined]
    with pytest.raises(RootMismatchError):
        verify_index_proof(proof, f.PWID2, root)
    with pytest.raises(RootMismatchError):
        verify_index_proof(IndexProof(9, (0, 3), proof.siblings), f.PWID, root)


def test_lookup_refusals(client: TestClient) -> None:
    r = client.get(f"/v1/index/{f.PWID}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    client.post("/v1/records?wait=true", json=[f.contribution()])
    for path, status, code in [
        ("/v1/index/not-a-pwid", 422, "bad_pwid"),
        (f"/v1/index/{f.PWID}?size=7", 404, "not_found"),
        (f"/v1/index/{f.PWID}?size=01", 422, None),
    ]:
        r = client.get(path)
        assert r.status_code == status, r.text
        if code:
            assert r.json()["error"]["code"] == code
