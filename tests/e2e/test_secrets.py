"""Secrets stay secret: three members witnessing and mirroring each other with every
logger at DEBUG, driven with tokens (good, bad, in the URL), receipts, bundles and
gossip; no write token and no private key, in any encoding, shows in any log line or
in any answer, and records are never written to the logs (a worker shows only as a PWID)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from pel.node.access.tokens import create_token
from tests import factories as f
from tests.e2e.cluster import Cluster, wait_for
from tests.e2e.cluster import federation as start_federation

pytestmark = pytest.mark.slow


def key_forms(pem: bytes) -> list[str]:
    """The ways a private key could be written out: PEM body, raw seed in hex and base64."""
    key = serialization.load_pem_private_key(pem, password=None)
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    body = b"".join(pem.strip().splitlines()[1:-1]).decode()
    return [
        body,
        raw.hex(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with start_federation(tmp_path, 3, quorum=2, mirror_interval=0.2, gossip_interval=0.2) as c:
        yield c


def test_no_token_or_private_key_reaches_a_log_or_an_answer(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).addHandler(caplog.handler)
    try:
        tokens = [create_token(n.tokens, n.agency, label="test") for n in cluster.nodes]
        secrets = list(tokens)
        for d in cluster.dirs:
            for pem in sorted((d / "keys").glob("*.pem")):
                secrets += key_forms(pem.read_bytes())
        answers: list[httpx.Response] = []
        th, url = cluster.nodes[0], cluster.urls[0]
        auth = {"Authorization": f"Bearer {tokens[0]}"}
        with httpx.Client(base_url=url, timeout=30) as http:
            enrolment = f.enrolment(pwid=f.PWID)
            drafts = [enrolment, *(f.contribution(body={"currency": "THB"}) for _ in range(9))]
            answers.append(http.post("/v1/records?wait=true", json=drafts, headers=auth))
            assert answers[-1].status_code == 200, answers[-1].text
            answers.append(http.post("/v1/records", json=drafts, headers=auth))  # duplicates
            answers.append(http.post("/v1/records", json=[{"v": 2}], headers=auth))
            answers.append(http.post("/v1/records", json=drafts, headers={"Authorization": "x"}))
            # The test's own client would log these URLs; the node must not.
            client_log = logging.getLogger("httpx")
            client_log.disabled = True
            try:
                answers.append(http.post(f"/v1/records?token={tokens[0]}", json=drafts))
                answers.append(http.get("/v1/node", params={"access_token": tokens[0]}))
            finally:
                client_log.disabled = False
            answers.append(http.get(f"/v1/pwids/{f.PWID}/bundle", headers=auth))
            answers.append(http.get(f"/v1/pwids/{f.PWID}/bundle"))
            answers.append(http.post("/v1/gossip", json={"checkpoints": ["x"]}))
            answers.append(http.post("/add-checkpoint", content=b"old 0\n\nx\n"))
            for path in ("/v1/node", "/openapi.json", "/v1/federation", "/checkpoint", "/"):
                answers.append(http.get(path))
                assert answers[-1].status_code == 200, path
            answers.append(http.get("/verify"))
            answers.append(http.get("/v1/records/0"))

        def cosigned() -> bool | None:
            info = httpx.get(url + "/v1/node").json()["witnessing"]
            return (info["witnessed"] and info["size"] == 10) or None

        wait_for("the quorum's cosignatures", cosigned)
        # Every member mirrored the others at least once, so the follower and gossip ran.
        wait_for(
            "a mirror of TH-SSO's log",
            lambda: (
                httpx.get(cluster.urls[1] + "/mirror/sso.go.th/pel/checkpoint").is_success or None
            ),
        )
        assert th.log.tree_size() == 10
    finally:
        for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "httpx", "httpcore"):
            logging.getLogger(name).removeHandler(caplog.handler)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert len(caplog.records) > 10 and "POST /add-checkpoint" in logged  # the capture works
    for secret in secrets:
        assert secret not in logged
        for r in answers:
            assert secret not in r.text and secret not in str(r.headers), r.request.url
    # Records are never written to the logs: a worker appears at most as a PWID (in a URL).
    assert '"pwid"' not in logged and '"commitment"' not in logged
    assert enrolment["body"]["commitment"] not in logged
