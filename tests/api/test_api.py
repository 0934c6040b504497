"""The HTTP API through FastAPI's test client: auth, refusals, idempotency, receipts,
tlog-tiles answers and proofs. Every refusal leaves the log unchanged."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.crypto.keys import SigningKey
from pel.crypto.record import sign_record
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import verify_consistency, verify_inclusion
from pel.ledger.tlog.checkpoint import open_checkpoint
from pel.node.agency_node import Node
from tests import factories as f
from tests.treehash import mth


@pytest.fixture
def client(sqlite_node: tuple[Node, str]) -> Iterator[TestClient]:
    node, token = sqlite_node
    with TestClient(create_app(node)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        c.node = node  # type: ignore[attr-defined]
        yield c


def state(c: TestClient) -> tuple[int, int]:
    return c.node.log.state()  # type: ignore[attr-defined]


def error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code, body
    assert body["message"]
    return body


def test_submit_drafts_and_read_back(client: TestClient) -> None:
    drafts = [f.contribution(), f.enrolment(), f.entitlement()]
    r = client.post("/v1/records", json=drafts)
    assert r.status_code == 200, r.text
    recs = r.json()["records"]
    assert [x["index"] for x in recs] == [0, 1, 2]
    assert [x["id"] for x in recs] == [d["id"] for d in drafts]
    got = client.get("/v1/records/1").json()
    assert got["record"]["issuer"] == "MY-PERKESO" and got["record"]["sig"]
    assert got["leaf_hash"] == recs[1]["leaf_hash"]
    by_id = client.get(f"/v1/records/MY-PERKESO/{drafts[2]['id']}").json()
    assert by_id["index"] == 2
    error(client.get("/v1/records/TH-SSO/whatever"), 404, "not_found")
    error(client.get("/v1/records/99"), 404, "not_found")


def test_unauthenticated_writes_are_refused(client: TestClient) -> None:
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer pel_wrong"},
        {"Authorization": "Basic abc"},
    ):
        r = client.post("/v1/records", json=[f.contribution()], headers=headers)
        error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
    assert state(client) == (0, 0)


def test_signed_records_verified_against_issuer_key(client: TestClient) -> None:
    node: Node = client.node  # type: ignore[attr-defined]
    good = sign_record(f.with_issuer(f.contribution()), node.issuer_key)
    forged = sign_record(f.with_issuer(f.contribution()), SigningKey.generate())
    tampered = dict(good, pwid=f.PWID2)
    r = client.post("/v1/records", json=[good])
    assert r.status_code == 200 and r.json()["records"][0]["index"] == 0
    for bad in (forged, tampered):
        body = error(client.post("/v1/records", json=[bad]), 422, "batch_refused")
        assert body["records"][0]["code"] == "bad_signature"
    foreign = sign_record(f.with_issuer(f.contribution(), "TH-SSO"), node.issuer_key)
    body = error(client.post("/v1/records", json=[foreign]), 422, "batch_refused")
    assert body["records"][0]["code"] == "foreign_issuer"
    assert state(client)[0] == 1


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"not json", 422, "bad_json"),
        (b'{"v": 1}', 422, "not_an_array"),
        (b"[]", 422, "empty_batch"),
        (b'[{"v":1,"v":1}]', 422, "bad_json"),
        (b"[NaN]", 422, "bad_json"),
        (b"[1]", 422, "batch_refused"),
        (json.dumps([f.contribution(type="pension")]).encode(), 422, "batch_refused"),
    ],
)
def test_malformed_input(client: TestClient, payload: bytes, status: int, code: str) -> None:
    r = client.post("/v1/records", content=payload, headers={"Content-Type": "application/json"})
    error(r, status, code)
    assert state(client) == (0, 0)


def test_unknown_type_reports_per_record_code(client: TestClient) -> None:
    r = client.post("/v1/records", json=[f.contribution(), f.contribution(type="pension")])
    body = error(r, 422, "batch_refused")
    assert body["records"] == [
        {"position": 1, "code": "unknown_type", "message": body["records"][0]["message"]}
    ]
    assert state(client) == (0, 0)


def test_oversized_input(client: TestClient) -> None:
    node: Node = client.node  # type: ignore[attr-defined]
    huge = f.contribution(body={"employer": "E" * 70_000})
    body = error(client.post("/v1/records", json=[huge]), 422, "batch_refused")
    assert body["records"][0]["code"] in ("bad_pseudonym", "record_too_large")
    big_body = b"[" + b" " * (node.settings.max_request_bytes + 1) + b"]"
    error(client.post("/v1/records", content=big_body), 413, "request_too_large")
    too_many = [f.contribution()] * (node.settings.max_batch_records + 1)
    error(client.post("/v1/records", json=too_many), 422, "batch_too_large")
    assert state(client) == (0, 0)


def test_idempotent_and_conflicting_resubmission(client: TestClient) -> None:
    drafts = [f.contribution() for _ in range(3)]
    first = client.post("/v1/records", json=drafts).json()["records"]
    again = client.post("/v1/records", json=drafts).json()["records"]
    assert [x["index"] for x in again] == [x["index"] for x in first]
    assert all(x["duplicate"] for x in again)
    changed = dict(drafts[1], pwid=f.PWID2)
    body = error(client.post("/v1/records", json=[changed]), 409, "conflict")
    assert body["records"][0]["position"] == 0
    assert state(client)[0] == 3


def test_receipt_with_wait(client: TestClient) -> None:
    r = client.post("/v1/records?wait=true", json=[f.contribution() for _ in range(4)])
    assert r.status_code == 200, r.text
    body = r.json()
    node: Node = client.node  # type: ignore[attr-defined]
    cp = open_checkpoint(body["checkpoint"].encode(), node.log_verifier).checkpoint
    assert body["integrated"] and cp.size == body["tree_size"] >= 4
    for rec in body["records"]:
        proof = [base64.b64decode(h) for h in rec["inclusion_proof"]]
        verify_inclusion(rec["index"], cp.size, base64.b64decode(rec["leaf_hash"]), proof, cp.root)


def test_tiles_checkpoint_and_proofs(client: TestClient) -> None:
    node: Node = client.node  # type: ignore[attr-defined]
    error(client.get("/checkpoint"), 404, "not_found")
    client.post("/v1/records?wait=true", json=[f.contribution() for _ in range(300)])
    first = open_checkpoint(client.get("/checkpoint").content, node.log_verifier).checkpoint
    client.post("/v1/records?wait=true", json=[f.contribution() for _ in range(50)])
    r = client.get("/checkpoint")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    cp = open_checkpoint(r.content, node.log_verifier).checkpoint
    entries = node.log.entries(0, cp.size)
    assert cp.root == mth(entries)

    full = client.get("/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 8192
    assert "immutable" in full.headers["cache-control"]
    assert full.headers["content-type"] == "application/octet-stream"
    assert full.content[:32] == hash_leaf(entries[0])
    part = client.get(f"/tile/0/001.p/{cp.size - 256}")
    assert part.content == b"".join(hash_leaf(e) for e in entries[256 : cp.size])
    assert client.get("/tile/1/000.p/1").content == node.log.tile(1, 0, 1)
    bundle = client.get("/tile/entries/000").content
    assert int.from_bytes(bundle[:2], "big") == len(entries[0])
    for bad in (
        "/tile/0/0",
        "/tile/0/x000",
        "/tile/0/000.p/0",
        "/tile/0/000.p/256",
        "/tile/64/000",
        "/tile/0/001",
        "/tile/0/001.p/255",
        "/tile/entries/002",
    ):
        error(client.get(bad), 404, "not_found")

    r = client.get("/v1/proof/inclusion", params={"index": 7, "tree_size": cp.size}).json()
    assert r["index"] == 7 and r["tree_size"] == cp.size
    verify_inclusion(
        7, cp.size, hash_leaf(entries[7]), [base64.b64decode(h) for h in r["hashes"]], cp.root
    )
    r = client.get("/v1/proof/consistency", params={"first": first.size, "second": cp.size}).json()
    verify_consistency(
        first.size, cp.size, first.root, cp.root, [base64.b64decode(h) for h in r["hashes"]]
    )
    error(
        client.get("/v1/proof/inclusion", params={"index": 5, "tree_size": cp.size + 1}),
        404,
        "not_found",
    )
    error(
        client.get("/v1/proof/inclusion", params={"index": -1, "tree_size": 3}),
        422,
        "invalid_request",
    )
    error(client.get("/v1/proof/consistency", params={"first": 9, "second": 3}), 404, "not_found")


def test_node_info_and_docs(client: TestClient) -> None:
    node: Node = client.node  # type: ignore[attr-defined]
    info = client.get("/v1/node").json()
    assert info["origin"] == "perkeso.gov.my/pel"
    assert info["log_vkey"] == node.log_signer.vkey
    assert info["issuer_key"] == node.issuer_public_key.to_base64()
    assert "token" not in json.dumps(info).lower()
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/records" in spec["paths"] and "/v1/proof/inclusion" in spec["paths"]
    error(client.get("/nowhere"), 404, "not_found")


@pytest.mark.parametrize("record_id", ["rec-1", 'q"uote\\', "é€\U0001f600", "\x00\n"])
def test_receipts_are_the_json_of_the_records(record_id: str) -> None:
    import hashlib

    from pel.ledger.records.entries import Appended
    from pel.node.receipts import Receipt, encode_receipt

    appended = [
        Appended(7, hashlib.sha256(b"a").digest(), record_id),
        Appended(2**40, hashlib.sha256(b"b").digest(), "x", True),
    ]
    want = {
        "records": [
            {
                "index": a.index,
                "leaf_hash": base64.b64encode(a.leaf_hash).decode(),
                "id": a.record_id,
                "duplicate": a.duplicate,
            }
            for a in appended
        ]
    }
    got = encode_receipt(Receipt(appended))
    assert json.loads(got) == want
    assert got == json.dumps(want, ensure_ascii=False, separators=(",", ":")).encode()
