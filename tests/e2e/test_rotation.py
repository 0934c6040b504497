"""Rotating an issuer key in a running three-member federation: ``pel keys rotate``, a
trust-list version signed with the old and the new key, applied everywhere; records
before and after verify, and a record signed with the retired key after its retirement
is refused by the node, the mirrors, the audit and the bundle verifier."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pel.crypto.record import sign_record
from pel.ledger.bundles.bundle import verify_bundle
from pel.ledger.errors import BundleError
from pel.ledger.federation.trust_list import SignedTrustList
from pel.ledger.records.entries import prepare_record
from pel.node.access.tokens import create_token
from pel.node.config import KEY_FILES
from pel.node.trust.secret_files import read_private_key
from pel.node.workers.bundles import build_part
from tests import factories as f
from tests.e2e.cluster import Cluster, wait_for
from tests.e2e.cluster import federation as start_federation
from tests.node.test_cli import run

PWID = "MM-7K3Q9X2M4T8V1B5N"


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Cluster]:
    with start_federation(tmp_path, 3, quorum=2, mirror_interval=0.2) as cluster:
        yield cluster


def _witnessed(fed: Cluster, size: int) -> None:
    th = fed.nodes[0]
    wait_for(
        f"TH-SSO's log witnessed at {size}",
        lambda: (w := th.witnessed())["size"] >= size and w["witnessed"],
    )


def _mirrored(fed: Cluster, size: int) -> None:
    for node in fed.nodes[1:]:
        wait_for(
            f"{node.agency}'s mirror of TH-SSO at {size}",
            lambda n=node: (st := n.mirrors.state("sso.go.th/pel")) is not None and st.size >= size,
        )


def test_an_issuer_key_rotation_end_to_end(fed: Cluster, tmp_path: Path) -> None:
    th_dir = fed.dirs[0]
    old_key = read_private_key(th_dir / KEY_FILES["issuer"])
    th = fed.nodes[0]
    before = [f.contribution(pwid=PWID, body={**f.contribution()["body"], "currency": "THB"})]
    before += [f.contribution(body={"currency": "THB"}) for _ in range(4)]
    th.submit(before)
    _witnessed(fed, 5)
    _mirrored(fed, 5)

    # 1. The new key, and the member entry for version 2.
    code, _, err = run(
        "keys",
        "rotate",
        str(th_dir),
        "--role",
        "issuer",
        "--overlap",
        "0",
        "--out",
        str(tmp_path / "th.json"),
    )
    assert code == 0, err
    nxt = th_dir / "keys" / "issuer.next.pem"
    assert stat.S_IMODE(nxt.stat().st_mode) == 0o600
    new_key = read_private_key(nxt)
    code, _, err = run("keys", "rotate", str(th_dir), "--role", "issuer")
    assert code == 1 and "already waits" in err  # one rotation at a time
    # 2. Version 2: proposed, signed by every member (TH with the old and the new key).
    v2 = tmp_path / "v2.json"
    code, _, err = run(
        "federation", "propose", str(th_dir), str(v2), "--add", str(tmp_path / "th.json")
    )
    assert code == 0, err
    for d in fed.dirs:
        assert run("federation", "sign", str(v2), "--directory", str(d))[0] == 0
    code, _, err = run("federation", "sign", str(v2), "--key", str(nxt), "--agency", "TH-SSO")
    assert code == 0, err
    tl2 = SignedTrustList.from_json(v2.read_text()).trust_list
    member = tl2.member("TH-SSO")
    assert member is not None and member.issuer_key == new_key.public_key.to_base64()
    [retired] = member.retired_keys
    assert retired.role == "issuer" and retired.key == old_key.public_key.to_base64()
    # 3. Applied everywhere; the TH node installs its new key.
    for d in fed.dirs:
        code, out, err = run("federation", "apply", str(d), str(v2))
        assert code == 0, err
    assert "installed the node's new issuer key" in out or not nxt.exists()
    assert not nxt.exists()
    assert read_private_key(th_dir / KEY_FILES["issuer"]).public_key == new_key.public_key
    assert list((th_dir / "keys").glob("issuer.retired-*.pem"))

    # Records after the rotation are signed with the new key, by the running node.
    after = [f.contribution(pwid=PWID, body={**f.contribution()["body"], "currency": "THB"})]
    appended = th.submit(after)
    assert th.issuer_key.public_key == new_key.public_key
    _witnessed(fed, 6)
    _mirrored(fed, 6)

    # Records before and after verify: the bundle (under version 2) and the audit.
    part = build_part(th, PWID).bundle
    assert part.trust_version == 2
    report = verify_bundle(part.to_bytes(), tl2)
    assert len(report.records) == 6  # five signed with the retired key, one with the new
    auditor = create_token(fed.nodes[0].tokens, "TH-SSO", "audit office", role="auditor")
    code, _, err = run(
        "audit", fed.urls[0], "--state", str(tmp_path / "audit"), "--trust", str(v2),
        "--token", auditor,
    )  # fmt: skip
    assert code == 0, err

    # A record signed with the retired key after its retirement:
    late = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    forged = sign_record(
        {
            **f.contribution(pwid=PWID, body={**f.contribution()["body"], "currency": "THB"}),
            "issuer": "TH-SSO",
            "issued_at": late,
        },
        old_key,
    )
    # … the node refuses it,
    token = run_token(fed)
    r = httpx.post(
        f"{fed.urls[0]}/v1/records", json=[forged], headers={"Authorization": f"Bearer {token}"}
    )
    assert 400 <= r.status_code < 500 and r.json()["error"]["code"]
    # … and once it is in the log anyway (a node that broke the rules), the mirrors, the
    # audit and the bundle verifier refuse it.
    th.log.append([prepare_record(forged)])
    th.sequencer.poke()  # type: ignore[union-attr]
    _witnessed(fed, 7)
    code, _, err = run(
        "audit", fed.urls[0], "--state", str(tmp_path / "audit2"), "--trust", str(v2),
        "--token", auditor,
    )  # fmt: skip
    assert code == 1 and "[retired_key]" in err and "Traceback" not in err
    for node in fed.nodes[1:]:
        wait_for(
            f"{node.agency}'s mirror refusing the forged record",
            lambda n=node: "retired_key" in str(n.mirror_status()["mirrors"]["sso.go.th/pel"]),
        )
        st = node.mirrors.state("sso.go.th/pel")
        assert st is not None and st.size == 6
    part = build_part(th, PWID).bundle
    with pytest.raises(BundleError) as refused:
        verify_bundle(part.to_bytes(), tl2)
    assert refused.value.code == "retired_key"
    assert appended  # the record after the rotation was taken


def run_token(fed: Cluster) -> str:
    return create_token(fed.nodes[0].tokens, "TH-SSO", label="rotation", role="writer")
