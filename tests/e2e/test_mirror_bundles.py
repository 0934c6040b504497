"""A worker's whole bundle from one node over real HTTP: four members mirroring each
other's logs; the worker enrolled at home (TH) and working in two host states (MY, SG)
gets one bundle from the home node holding their records from the three logs, which
verifies offline with the trust list alone; their own signed request works at a host
node that mirrors the home log; an agency without records of them is refused; a
mirrored log flagged for a fork is left out and reported."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pel.crypto.keys import SigningKey
from pel.crypto.request import sign_request
from pel.ledger.bundles.bundle import Bundle, verify_bundle
from pel.ledger.federation.trust_list import SignedTrustList, TrustList
from pel.ledger.tlog.checkpoint import Checkpoint, sign_checkpoint
from pel.node.trust.secret_files import write_private_key
from pel.node.workers.bundles import BUNDLE_PATH
from tests import factories as f
from tests.e2e import test_mirrors
from tests.e2e.cluster import Cluster, wait_for
from tests.node.test_cli import run

pytestmark = pytest.mark.slow

PWID = "TH-7K3Q9X2M4T8V1B5N"
OTHER = "TH-0123456789ABCDEF"
PATH = BUNDLE_PATH.format(pwid=PWID)
TH, MY, SG = "sso.go.th/pel", "perkeso.gov.my/pel", "cpf.gov.sg/pel"
cluster = test_mirrors.cluster  # four members mirroring each other, quorum 2


def trust(c: Cluster) -> TrustList:
    return SignedTrustList.from_json(c.trust_file.read_text()).trust_list


Signer = Callable[[str], str]  # the Authorization of a request to that agency's node


def as_agency(c: Cluster, i: int) -> Signer:
    node = c.nodes[i]
    return lambda to: sign_request(
        node.issuer_key, "GET", PATH, int(time.time()), audience=to, agency=node.agency
    )


def as_holder(key: SigningKey) -> Signer:
    return lambda to: sign_request(key, "GET", PATH, int(time.time()), audience=to)


def get(c: Cluster, url: str, auth: Signer) -> httpx.Response:
    """The bundle part at ``url``, asked with a request signed for the node there."""
    [agency] = [m.agency for m in trust(c).members if m.url == url]
    return httpx.get(url + PATH, headers={"Authorization": auth(agency)}, timeout=10)


def whole(c: Cluster, url: str, auth: Signer, ids: set[str]) -> httpx.Response | None:
    """The bundle part at ``url`` once it holds exactly ``ids``, none pending."""
    r = get(c, url, auth)
    if r.status_code != 200 or r.headers["pel-pending"]:
        return None
    held = {e.record["id"] for e in Bundle.from_json(r.content).records}
    return r if held == ids else None


def fill(c: Cluster, holder: SigningKey) -> dict[str, dict[str, Any]]:
    """The worker's records at home and in the two host states (and someone else's)."""
    th, my, sg = c.nodes[0], c.nodes[1], c.nodes[2]
    enrol = f.enrolment(pwid=PWID)
    enrol["body"]["home_country"] = "TH"
    enrol["body"]["holder_key"] = holder.public_key.to_base64()
    th.submit([enrol, f.contribution(pwid=OTHER, body={"currency": "THB"})])
    myr = [f.contribution(pwid=PWID, body={"period": p}) for p in ("2026-08", "2026-09")]
    my.submit([*myr, f.contribution(pwid=OTHER)])
    amend = f.amendment(myr[0], issuer="MY-PERKESO")
    my.submit([amend])
    sgd = {"currency": "SGD", "insured_earnings": "3000.00"}
    sgc = [f.contribution(pwid=PWID, body={**sgd, "period": p}) for p in ("2026-10", "2026-11")]
    sg.submit(sgc)
    revoke = f.revocation(sgc[1], issuer="SG-CPF")
    sg.submit([revoke])
    return {
        "enrolment": enrol,
        "my1": myr[0],
        "my2": myr[1],
        "amend": amend,
        "sg1": sgc[0],
        "sg2": sgc[1],
        "revoke": revoke,
    }


def test_one_node_hands_over_the_whole_bundle_from_its_mirrors(
    cluster: Cluster, tmp_path: Path
) -> None:
    c = cluster
    holder = SigningKey.generate()
    mine = fill(c, holder)
    ids = {r["id"] for r in mine.values()}

    # The home node: its own log and its mirrors of MY's and SG's, all witnessed.
    r = wait_for("TH's whole part", lambda: whole(c, c.urls[0], as_holder(holder), ids), 60)
    assert "pel-left-out" not in r.headers
    path = tmp_path / "bundle.json"
    path.write_bytes(r.content)
    report = verify_bundle(r.content, trust(c))  # offline: the bytes and the trust list
    by_id = {v.record["id"]: v for v in report.records}
    assert {v.member.origin for v in report.records} == {TH, MY, SG}
    assert {v.record["issuer"] for v in report.records} == {"TH-SSO", "MY-PERKESO", "SG-CPF"}
    assert all(v.record["pwid"] == PWID for v in report.records)
    assert by_id[mine["my1"]["id"]].status == "amended"
    assert by_id[mine["my1"]["id"]].body["insured_earnings"] == "2500.00"
    assert by_id[mine["sg2"]["id"]].status == "revoked"
    assert all(len(v.cosigners) >= 2 for v in report.records)
    code, out, err = run("verify-bundle", str(path), "--trust", str(c.trust_file))
    assert code == 0, err
    assert "verified" in out and PWID in out

    # The worker's own request at a host node, which holds the enrolment in its mirror
    # of TH's log; another key is refused there.
    r = wait_for("MY's whole part", lambda: whole(c, c.urls[1], as_holder(holder), ids), 60)
    assert {e.record["id"] for e in Bundle.from_json(r.content).records} == ids
    assert get(c, c.urls[1], as_holder(SigningKey.generate())).status_code == 403
    # Agencies: the home agency and the hosts (records in the log or a mirror) may ask,
    # PH-SSS (no record of the worker anywhere) may not at the nodes that hold them (its
    # own node answers its own agency, as ever).
    assert get(c, c.urls[1], as_agency(c, 0)).status_code == 200
    assert get(c, c.urls[0], as_agency(c, 2)).status_code == 200
    assert get(c, c.urls[2], as_agency(c, 1)).status_code == 200
    for url in c.urls[:3]:
        refused = get(c, url, as_agency(c, 3))
        assert refused.status_code == 403, url
        assert refused.json()["error"]["code"] == "forbidden"
    # PH-SSS's own node mirrors every log: the worker may ask there too.
    wait_for("PH's whole part", lambda: whole(c, c.urls[3], as_holder(holder), ids), 60)

    # `pel bundle` over every member's node: four full parts, merged, each record once.
    key_file = tmp_path / "holder.pem"
    write_private_key(key_file, holder)
    merged_file = tmp_path / "merged.json"
    code, out, err = run(
        "bundle", PWID, "--trust", str(c.trust_file), "--out", str(merged_file),
        "--holder-key", str(key_file),
    )  # fmt: skip
    assert code == 0, err
    merged = verify_bundle(merged_file.read_bytes(), trust(c))
    assert sorted(v.record["id"] for v in merged.records) == sorted(ids)

    # A proven fork of SG's log at TH: SG's records are left out, and said so.
    sg = c.nodes[2]
    size = sg.log.state()[1]
    forked = sign_checkpoint(Checkpoint(SG, size, bytes(range(32))), sg.log_signer)
    g = httpx.post(c.urls[0] + "/v1/gossip", json={"checkpoints": [forked.decode()]}, timeout=10)
    assert g.json()["results"][0]["result"] == "fork"
    r = get(c, c.urls[0], as_holder(holder))
    assert r.status_code == 200 and r.headers["pel-left-out"] == SG
    left = verify_bundle(r.content, trust(c))
    assert {v.member.origin for v in left.records} == {TH, MY}
    code, out, err = run(
        "bundle", PWID, "--trust", str(c.trust_file), "--out", str(tmp_path / "b2.json"),
        "--holder-key", str(key_file), "--url", c.urls[0],
    )  # fmt: skip
    assert code == 0, err
    assert f"warning: {c.urls[0]} left out {SG}: flagged for a fork" in err
    assert json.loads((tmp_path / "b2.json").read_text())["pwid"] == PWID
