"""Hostile requests a fuzzer does not think of: oversized and deeply nested bodies, wrong
content types, numbers past any column, tile paths in bad encodings, garbage for the
witness and gossip, endless origins, unicode ids, tokens in URLs, the same record sent
twice at once. Each gets a 4xx ``{"error": {"code", "message"}}``, and the log (every
entry, its next index and tree size) is the same afterwards."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.node.agency_node import Node, init_node
from tests import factories as f
from tests.conftest import AGENCY, ORIGIN, serve

LIMIT = 64 << 10  # the node's request-size limit in these tests


def contents(node: Node) -> tuple[tuple[int, int], list[bytes]]:
    next_index, size = node.log.state()
    return (next_index, size), [node.log.entry(i) for i in range(next_index)]


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[TestClient]:
    """A node holding 300 integrated records; its log must not change under any test."""
    first, token = init_node(tmp_path / "node", agency=AGENCY, origin=ORIGIN)
    first.stop()
    node = Node.open(tmp_path / "node", max_request_bytes=LIMIT)
    node.submit([f.contribution() for _ in range(300)])
    node.log.integrate()
    before = contents(node)
    with TestClient(create_app(node, start=False), raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        c.token = token  # type: ignore[attr-defined]
        yield c
    assert contents(node) == before
    node.stop()


def refused(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


JSON = {"Content-Type": "application/json"}


# -- bodies: size, depth, types --------------------------------------------------------


def test_oversized_bodies_are_refused_declared_or_streamed(hostile: TestClient) -> None:
    big = b"[" + b" " * LIMIT + b"]"
    refused(hostile.post("/v1/records", content=big, headers=JSON), 413, "request_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what streams in
        yield b"["
        for _ in range(LIMIT // 1024 + 1):
            yield b" " * 1024
        yield b"]"

    refused(hostile.post("/v1/records", content=chunks(), headers=JSON), 413, "request_too_large")
    refused(hostile.post("/v1/gossip", content=big, headers=JSON), 413, "request_too_large")
    refused(hostile.post("/add-checkpoint", content=big), 413, "request_too_large")


@pytest.mark.parametrize("depth", [100, 5_000, 30_000])
def test_deeply_nested_json_is_refused(hostile: TestClient, depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    refused(hostile.post("/v1/records", content=nested, headers=JSON), 422)
    inside = json.dumps([f.contribution()])[:-2].encode() + b', "deep": ' + nested + b"}]"
    refused(hostile.post("/v1/records", content=inside, headers=JSON), 422)
    gossip = b'{"checkpoints": ' + nested + b"}"
    assert hostile.post("/v1/gossip", content=gossip, headers=JSON).status_code in (400, 422)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_a_batch_must_be_sent_as_json(hostile: TestClient, content_type: str | None) -> None:
    body = json.dumps([f.contribution()]).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    refused(
        hostile.post("/v1/records", content=body, headers=headers), 415, "unsupported_media_type"
    )
    charset = {"Content-Type": "application/json; charset=utf-8"}
    assert hostile.post("/v1/records", content=b"[]", headers=charset).status_code == 422


def test_gossip_must_be_json_and_methods_and_paths_are_checked(hostile: TestClient) -> None:
    note = json.dumps({"checkpoints": ["x"]}).encode()
    refused(hostile.post("/v1/gossip", content=note, headers={"Content-Type": "text/plain"}), 422)
    r = hostile.delete("/v1/records/0")
    refused(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"].split(", ")
    r = hostile.put("/checkpoint", content=b"x")
    refused(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET"
    refused(hostile.get("/v2/records"), 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe[]",
        b'[{"v": 1}] trailing',
        b"[" + b"1," * 20_000 + b"1]",  # more records than a batch holds
        b"[1e999999]",
        b'[{"id": "\\ud800"}]',
        json.dumps([f.contribution(v=True)]).encode(),  # true is not the version 1
        json.dumps([f.contribution(id="r\u202e\U0001f600")]).encode(),
        json.dumps([f.contribution(pwid="MM-7K3Q9X2M4T8V1B5\u00d1")]).encode(),
    ],
)
def test_garbage_batches_are_refused(hostile: TestClient, body: bytes) -> None:
    refused(hostile.post("/v1/records", content=body, headers=JSON), 422)


# -- numbers in paths and queries ------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [str(2**70), str(2**63), "-1", "0x10", "1e3", "03", "+3", " 3", "3_000", "3.0", "\u0663", ""],
)
def test_indexes_and_sizes_are_canonical_decimals_in_range(
    hostile: TestClient, number: str
) -> None:
    for url in (
        "/v1/proof/inclusion",
        "/v1/proof/consistency",
    ):
        params = (
            {"index": number, "tree_size": "300"}
            if url.endswith("inclusion")
            else {"first": number, "second": "300"}
        )
        refused(hostile.get(url, params=params), 422, "invalid_request")
        swapped = {k: "1" if v == number else number for k, v in params.items()}
        refused(hostile.get(url, params=swapped), 422, "invalid_request")
    if number:
        refused(hostile.get(f"/v1/records/{number}"), 422, "invalid_request")


def test_a_query_parameter_given_twice_is_refused(hostile: TestClient) -> None:
    r = hostile.get("/v1/proof/inclusion?index=3&tree_size=5&tree_size=7")
    assert "tree_size" in refused(r, 422, "invalid_request")["message"]
    assert hostile.get("/v1/proof/inclusion?index=3&tree_size=7").is_success


def test_the_largest_index_is_only_not_found(hostile: TestClient) -> None:
    largest = str(2**63 - 1)
    refused(hostile.get(f"/v1/records/{largest}"), 404, "not_found")
    refused(
        hostile.get("/v1/proof/inclusion", params={"index": "0", "tree_size": largest}),
        404,
        "not_found",
    )
    assert hostile.get("/v1/proof/inclusion", params={"index": "3", "tree_size": "300"}).is_success


# -- tile paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "x1/x2/003",
        "0/x000/001",  # a leading all-zero element
        "0/x01/002",
        "0/0000",
        "0/01",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/",
        "0/000.p/-1",
        "0/000.p/01",
        "0/%ff",
        "0/%00",
        "0/\u0663\u0663\u0663",
        "64/000",
        "-1/000",
        "entries/000.p/0",
        "0/x999/x999/x999/x999/x999/x999/x999/999",  # far past the checkpoint
        "entries/x999/x999/x999/x999/x999/x999/x999/999",
        "0/002",  # past the checkpoint
        "0/001.p/45",
    ],
)
def test_bad_tile_paths_are_not_found(hostile: TestClient, path: str) -> None:
    refused(hostile.get(f"/tile/{path}"), 404, "not_found")
    refused(hostile.get(f"/mirror/{ORIGIN}/tile/{path}"), 404, "not_found")


def test_good_tile_paths_still_answer(hostile: TestClient) -> None:
    assert len(hostile.get("/tile/0/000").content) == 256 * 32
    assert len(hostile.get("/tile/0/001.p/44").content) == 44 * 32


# -- witness and gossip ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"garbage", 400),
        (b"\xff\xfe\x00\x00", 400),
        (b"old 0\n\n", 400),
        (b"old -1\n\nx\n", 400),
        (b"old 01\n\nx\n", 400),
        (b"old " + str(2**70).encode() + b"\n\nx\n", 400),
        (b"old 0\n\n" + ORIGIN.encode() + b"\n5\n" + b"A" * 44 + b"\n\n", 404),
        (b"old 0\n\nsomeone.else/log\n5\n" + b"A" * 44 + b"\n\n\xe2\x80\x94 x y\n", 404),
        (b"old 0\n" + b"A" * 44 + b"\n" * 5000, 400),
    ],
)
def test_add_checkpoint_garbage(hostile: TestClient, body: bytes, status: int) -> None:
    refused(hostile.post("/add-checkpoint", content=body), status)


@pytest.mark.parametrize(
    "body",
    [
        b"garbage",
        b"\xff",
        b"[]",
        b"{}",
        b'{"checkpoints": "x"}',
        b'{"checkpoints": [1]}',
        b'{"checkpoints": ["\\ud800"]}',
        b'{"checkpoints": ["x"]}',
        json.dumps({"checkpoints": ["x"] * 17}).encode(),
        json.dumps({"checkpoints": ["a\n" * 20_000]}).encode(),
        json.dumps({"checkpoints": [f"{ORIGIN}\n5\n{'A' * 44}\n\n\u2014 x y\n"]}).encode(),
    ],
)
def test_gossip_garbage(hostile: TestClient, body: bytes) -> None:
    r = hostile.post("/v1/gossip", content=body, headers=JSON)
    refused(r, r.status_code if r.status_code in (400, 422) else 422)


# -- origins, ids, unicode -------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["a" * 10_000, "é/🙂", "%ff", "a" * 64, "A" * 64, "../../etc/passwd", "x" * 63 + "/"]
)
def test_long_and_strange_origins_are_not_mirrored(hostile: TestClient, origin: str) -> None:
    refused(hostile.get(f"/mirror/{origin}/checkpoint"), 404, "not_found")
    refused(hostile.get(f"/mirror/{origin}/tile/0/000"), 404, "not_found")


@pytest.mark.parametrize("record_id", ["\u202e\U0001f600", "é" * 300, "%ff", "a" * 5000, "%00"])
def test_unicode_ids_are_not_found(hostile: TestClient, record_id: str) -> None:
    refused(hostile.get(f"/v1/records/{AGENCY}/{record_id}"), 404, "not_found")
    refused(hostile.get(f"/v1/records/{record_id}/x"), 404, "not_found")


@pytest.mark.parametrize("pwid", ["\U0001f600", "MM-7K3Q9X2M4T8V1B5\u00d1", "x" * 5000])
def test_bundles_of_non_pwids_are_refused(hostile: TestClient, pwid: str) -> None:
    refused(hostile.get(f"/v1/pwids/{pwid}/bundle"), 422, "bad_pwid")
    # Credentials are checked before the input: without them, 401 whatever the path says.
    refused(
        hostile.get(f"/v1/pwids/{pwid}/bundle", headers={"Authorization": ""}), 401, "unauthorized"
    )


# -- credentials in URLs ---------------------------------------------------------------


def test_a_token_in_the_url_is_refused(hostile: TestClient) -> None:
    token = hostile.token  # type: ignore[attr-defined]
    for url in (
        f"/v1/node?token={token}",
        f"/v1/node?access_token={token}",
        f"/v1/node?x={token}",
        f"/v1/pwids/{f.PWID}/bundle?token={token}",
        "/v1/node?Authorization=Bearer%20x",
    ):
        body = refused(hostile.get(url, headers={"Authorization": ""}), 400, "token_in_url")
        assert token not in json.dumps(body)
    r = hostile.post(f"/v1/records?token={token}", json=[f.contribution()])
    refused(r, 400, "token_in_url")
    assert hostile.get("/v1/proof/inclusion?index=3&tree_size=300").is_success


def test_access_logs_hold_no_query_strings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, token = init_node(tmp_path / "n", agency=AGENCY, origin=ORIGIN)
    import uvicorn

    from tests.conftest import free_port

    port = free_port()
    config = uvicorn.Config(
        create_app(node), host="127.0.0.1", port=port, log_config=None, access_log=True
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    caplog.set_level(logging.DEBUG)
    # A `pel serve` run earlier in this process leaves uvicorn's own logging settings
    # (access lines at WARNING, not propagated): this test reads them through caplog.
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.02)
        assert server.started
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert http.get("/v1/node", params={"token": token}).status_code == 400
            assert http.get("/v1/node", params={"q": "visible-marker"}).status_code == 200
    finally:
        server.should_exit = True
        thread.join(20)
        node.stop()
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("/v1/node" in line for line in access), access
    assert not any(token in line or "visible-marker" in line for line in access), access


# -- the same record twice at once -----------------------------------------------------


def test_the_same_record_sent_twice_at_once_gets_one_index(
    node_and_token: tuple[Node, str],
) -> None:
    node, token = node_and_token
    batches = [[f.contribution() for _ in range(20)] for _ in range(3)]
    results: dict[int, list[list[int]]] = {i: [] for i in range(len(batches))}
    errors: list[str] = []
    with serve(create_app(node)) as url:
        start = threading.Barrier(6)

        def send(i: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                start.wait(10)
                r = http.post(
                    "/v1/records", json=batches[i], headers={"Authorization": f"Bearer {token}"}
                )
                if r.status_code != 200:
                    errors.append(r.text)
                    return
                results[i].append([rec["index"] for rec in r.json()["records"]])

        threads = [threading.Thread(target=send, args=(i % 3,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors
    for i, answers in results.items():
        assert len(answers) == 2 and answers[0] == answers[1], (i, answers)
    indexes = sorted(ix for answers in results.values() for ix in answers[0])
    assert indexes == list(range(60))
    assert node.log.state()[0] == 60


# -- a failure inside the node ---------------------------------------------------------


def test_an_unexpected_failure_is_a_500_error_object_without_details(
    hostile: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> bytes:
        raise RuntimeError("secret internals /var/lib/pel")

    monkeypatch.setattr(type(hostile.app.state.node.log), "entry", broken)  # type: ignore[attr-defined]
    r = hostile.get("/v1/records/3")
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "internal_error" and "secret internals" not in error["message"]
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)
