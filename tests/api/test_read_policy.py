"""The read policy on every route: a walk of the OpenAPI document, every route the app
serves, and the tlog-tiles and mirror paths. Record-carrying routes refuse anonymous
requests (401) and credentials that do not grant them (403); public ones answer
without credentials; no answer tells an outsider whether a PWID exists."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.crypto.keys import SigningKey
from pel.crypto.request import sign_request
from pel.node.access.policy import Need, need_for
from pel.node.access.tokens import create_token, list_tokens, revoke_token
from pel.node.agency_node import Node
from tests import factories as f
from tests.ledger.test_mirror import ORIGIN, Source, mirror


class Setup:
    """A node with records, a mirrored log, and one token of each role."""

    def __init__(self, node: Node, client: TestClient, tokens: dict[str, str]) -> None:
        self.node = node
        self.client = client
        self.tokens = tokens
        self.holder = SigningKey.generate()  # bound to f.PWID's enrolment
        self.stranger = SigningKey.generate()  # bound to nobody's

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def signed(self, key: SigningKey, method: str, path: str) -> dict[str, str]:
        """A worker's request for this node: ``path`` with its query, no body."""
        now = int(time.time())
        return {"Authorization": sign_request(key, method, path, now, audience=self.node.agency)}

    def call(self, method: str, path: str, headers: dict[str, str] | None = None) -> Any:
        body = {"json": [f.contribution()]} if method == "POST" else {}
        if path == "/add-checkpoint":
            body = {"content": b"old 0\n\nnot a checkpoint\n"}
        elif path == "/v1/gossip":
            body = {"json": {"checkpoints": []}}
        return self.client.request(method, path, headers=headers or {}, **body)


@pytest.fixture
def setup(sqlite_node: tuple[Node, str]) -> Iterator[Setup]:
    node, admin = sqlite_node
    src = Source()
    src.grow(300)
    mirror(node.mirrors, src, step=100)
    tokens = {"admin": admin}
    for role in ("writer", "reader", "auditor"):
        tokens[role] = create_token(node.tokens, node.agency, f"test {role}", role=role)
    # Not checked at start-up: the mirror here is of a log outside any trust list, which
    # the check refuses (it has no key to check the copy with).
    with TestClient(create_app(node, check=False)) as c:
        s = Setup(node, c, tokens)
        enrol = f.enrolment()
        enrol["body"]["holder_key"] = s.holder.public_key.to_base64()
        records = [enrol, *(f.contribution() for _ in range(3)), f.contribution(pwid=f.PWID2)]
        r = c.post("/v1/records?wait=true", json=records, headers=s.bearer("writer"))
        assert r.status_code == 200, r.text
        s.record_id = r.json()["records"][1]["id"]  # type: ignore[attr-defined]
        yield s


def concrete(setup: Setup, template: str) -> str:
    """A path of the route ``template`` naming things that exist."""
    values = {
        "index": "1",
        "issuer": setup.node.agency,
        "record_id": setup.record_id,  # type: ignore[attr-defined]
        "pwid": f.PWID,
    }
    return re.sub(r"\{(\w+)(:path)?\}", lambda m: values.get(m.group(1), "x"), template)


# The tlog-tiles and mirror paths, which the OpenAPI document names only as {path}.
TILE_PATHS = [
    ("/checkpoint", Need.PUBLIC),
    ("/tile/0/000.p/5", Need.PUBLIC),
    ("/tile/entries/000.p/5", Need.ENTRIES),
    (f"/mirror/{ORIGIN}/checkpoint", Need.PUBLIC),
    (f"/mirror/{ORIGIN}/tile/0/000", Need.PUBLIC),
    (f"/mirror/{ORIGIN}/tile/1/000.p/1", Need.PUBLIC),
    (f"/mirror/{ORIGIN}/tile/entries/000", Need.ENTRIES),
    (f"/mirror/{ORIGIN}/tile/entries/001.p/44", Need.ENTRIES),
]


def routes(setup: Setup) -> list[tuple[str, str]]:
    """(method, concrete path) of every route: the OpenAPI document's, the pages, the tiles."""
    app = setup.client.app
    doc = app.openapi()  # type: ignore[attr-defined]
    out = [(m.upper(), concrete(setup, p)) for p, item in doc["paths"].items() for m in item]
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and not route.include_in_schema:
            out += [(m, concrete(setup, route.path)) for m in route.methods]
    out = [(m, p) for m, p in out if "/tile/" not in p and not p.startswith("/mirror/x")]
    out += [("GET", p) for p, _ in TILE_PATHS]
    return sorted(set(out))


def test_the_policy_names_every_route_the_app_serves(setup: Setup) -> None:
    documented = setup.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert "/v1/records/{index}" in documented and "/v1/pwids/{pwid}/access-log" in documented
    for path, need in TILE_PATHS:
        assert need_for("GET", path)[0] is need, path
    # A route added without a line in the table is protected, not public.
    assert need_for("GET", "/v1/something-new/MM-7K3Q9X2M4T8V1B5N")[0] is Need.ENTRIES
    assert need_for("GET", "/mirror/a/tile/entries/b/tile/0/000")[0] is Need.PUBLIC  # hash tile


def test_the_openapi_document_states_the_policy(setup: Setup) -> None:
    doc = setup.client.app.openapi()  # type: ignore[attr-defined]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            protected = need_for(method, path)[0] is not Need.PUBLIC
            assert ("security" in operation) == protected, (method, path)
            if protected:
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "signed"}


def test_anonymous_requests(setup: Setup) -> None:
    seen = {Need.PUBLIC: 0, Need.ENTRIES: 0, Need.WORKER: 0, Need.ACCESS_LOG: 0, Need.WRITE: 0}
    for method, path in routes(setup):
        need, _ = need_for(method, path)
        seen[need] += 1
        r = setup.call(method, path)
        if need is Need.PUBLIC:
            assert r.status_code not in (401, 403), (method, path, r.text)
        else:
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
    assert all(seen.values()), seen
    for path in ("/checkpoint", "/tile/0/000.p/5", f"/mirror/{ORIGIN}/tile/0/000", "/v1/node"):
        assert setup.call("GET", path).status_code == 200, path
    r = setup.call("GET", "/v1/proof/inclusion?index=1&tree_size=5")
    assert r.status_code == 200, r.text


def test_credentials_that_do_not_grant_are_403(setup: Setup) -> None:
    for method, path in routes(setup):
        need, _ = need_for(method, path)
        if need is Need.PUBLIC:
            continue
        # A writer reads nothing; an auditor writes nothing and reads no worker's bundle.
        ungranted = "auditor" if need in (Need.WRITE, Need.WORKER, Need.ACCESS_LOG) else "writer"
        r = setup.call(method, path, setup.bearer(ungranted))
        assert r.status_code == 403, (method, path, ungranted, r.text)
        assert r.json()["error"]["code"] == "forbidden"
        if method == "GET":  # a worker's key reads only that worker's bundle
            r = setup.call(method, path, setup.signed(setup.stranger, method, path))
            assert r.status_code == 403, (method, path, r.text)


def test_granted_credentials_read(setup: Setup) -> None:
    s = setup
    for path in ("/tile/entries/000.p/5", f"/mirror/{ORIGIN}/tile/entries/000"):
        for role in ("reader", "admin", "auditor"):
            r = s.call("GET", path, s.bearer(role))
            assert r.status_code == 200, (path, role, r.text)
            assert "private" in r.headers["cache-control"]  # never in a shared cache
    r = s.call("GET", "/v1/records/1", s.bearer("auditor"))
    assert r.status_code == 200 and r.json()["record"]["pwid"] == f.PWID
    # The worker's own key, on their own PWID's access record.
    path = f"/v1/pwids/{f.PWID}/access-log"
    assert s.call("GET", path, s.signed(s.holder, "GET", path)).status_code == 200
    assert s.call("GET", path, s.bearer("admin")).status_code == 200
    assert s.call("GET", path, s.bearer("reader")).status_code == 403


def test_a_mirror_entries_path_with_no_log_name_is_protected_and_not_found(setup: Setup) -> None:
    s = setup
    path = "/mirror//tile/entries/000"
    assert s.call("GET", path).status_code == 401
    r = s.call("GET", path, s.bearer("reader"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text


def test_credentials_are_checked_before_the_input(setup: Setup) -> None:
    s = setup
    for path in ("/v1/records/not-a-number", "/v1/pwids/not-a-pwid/bundle"):
        assert s.call("GET", path).status_code == 401, path
        assert s.call("GET", path, s.bearer("writer")).status_code == 403, path
    assert s.call("GET", "/v1/records/not-a-number", s.bearer("reader")).status_code == 422


def test_no_answer_says_whether_a_pwid_exists(setup: Setup) -> None:
    s = setup
    unknown = "TH-0000000000000000"
    answers = []
    for pwid in (f.PWID, unknown):
        for tail in ("bundle", "access-log"):
            path = f"/v1/pwids/{pwid}/{tail}"
            for headers in ({}, s.signed(s.stranger, "GET", path), s.bearer("writer")):
                r = s.call("GET", path, headers)
                answers.append((tail, r.status_code, r.json()))
    half = len(answers) // 2
    assert answers[:half] == answers[half:]  # the same answers for a PWID with records


def test_a_revoked_token_is_refused(setup: Setup) -> None:
    s = setup
    path = "/tile/entries/000.p/5"
    assert s.call("GET", path, s.bearer("auditor")).status_code == 200
    [info] = [t for t in list_tokens(s.node.tokens) if t.role == "auditor"]
    revoke_token(s.node.tokens, info.id)
    r = s.call("GET", path, s.bearer("auditor"))
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_a_stale_or_forged_signed_request_is_401(setup: Setup) -> None:
    s = setup
    path, here, now = "/tile/entries/000.p/5", setup.node.agency, int(time.time())

    def member(key: SigningKey, agency: str, *, at: int = now, to: str = here) -> dict[str, str]:
        return {"Authorization": sign_request(key, "GET", path, at, audience=to, agency=agency)}

    old = member(s.node.issuer_key, "MY-PERKESO", at=now - 3600)
    assert s.call("GET", path, old).status_code == 401
    forged = member(SigningKey.generate(), "MY-PERKESO")
    assert s.call("GET", path, forged).status_code == 401
    assert s.call("GET", path, member(s.node.issuer_key, here)).status_code == 200
    # Made for another member's node: refused here, with a code that says so.
    r = s.call("GET", path, member(s.node.issuer_key, here, to="SG-CPF"))
    assert (r.status_code, r.json()["error"]["code"]) == (401, "wrong_audience")
