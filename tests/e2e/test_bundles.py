"""A worker's bundle across three member nodes over real HTTP: enrolment at home (Malaysia),
contributions with an amendment and a revocation at the host (Thailand); assembled with
``pel bundle``, verified offline with ``pel verify-bundle`` and the trust list alone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from pel.crypto.keys import SigningKey
from pel.ledger.bundles.bundle import summarise, verify_bundle
from pel.ledger.bundles.qr import BundleRef, read_qr_text
from pel.ledger.federation.trust_list import SignedTrustList
from pel.node.agency_node import Node
from pel.node.config import KEY_FILES
from pel.node.trust.secret_files import write_private_key
from tests import factories as f
from tests.e2e.cluster import wait_for
from tests.e2e.test_federation import Federation, federation  # noqa: F401 - the fixture
from tests.node.test_cli import run

pytestmark = pytest.mark.slow

PWID = "MY-7K3Q9X2M4T8V1B5N"


def _witnessed(node: Node, size: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        w = node.witnessed()
        if w["witnessed"] and w["size"] >= size:
            return
        assert time.monotonic() < deadline, f"{node.agency} not cosigned in time: {w}"
        time.sleep(0.1)


def test_a_bundle_from_three_nodes_verifies_offline(
    federation: Federation,  # noqa: F811
    tmp_path: Path,
) -> None:
    fed = federation
    th, my = fed.nodes[0], fed.nodes[1]
    holder = SigningKey.generate()
    write_private_key(tmp_path / "holder.pem", holder)
    enrol = f.enrolment(pwid=PWID)
    enrol["body"].update(home_country="MY", holder_key=holder.public_key.to_base64())
    my.submit([enrol])
    thb = {"currency": "THB", "contributions": {"old_age": "450.00", "sickness": "150.00"}}
    months = [
        f.contribution(pwid=PWID, body={**thb, "period": p, "insured_earnings": "15000.00"})
        for p in ("2026-07", "2026-08", "2026-09")
    ]
    th.submit([*months, f.contribution(pwid="MM-7K3Q9X2M4T8V1B5N", body=thb)])
    fix = f.amendment(months[0], issuer="TH-SSO")
    fix["body"]["body"]["insured_earnings"] = "16000.00"
    th.submit([fix, f.revocation(months[1], issuer="TH-SSO")])
    _witnessed(my, 1)
    _witnessed(th, 6)

    # The home agency asks every member's node (URLs from the trust list).
    out_file, png = tmp_path / "bundle.json", tmp_path / "bundle.png"
    key = str(fed.dirs[1] / KEY_FILES["issuer"])
    trust = ["--trust", str(fed.trust_file)]
    code, out, err = run(
        "bundle", PWID, *trust, "--out", str(out_file), "--key", key, "--agency", "MY-PERKESO",
        "--qr", str(png),
    )  # fmt: skip
    assert code == 0, err
    assert "6 records" in out

    code, out, err = run("verify-bundle", str(out_file), *trust)
    assert code == 0, err
    assert "home state MY" in out
    assert "months of contributions: old_age" in out and "31000.00" in out

    tl = SignedTrustList.from_json(fed.trust_file.read_text()).trust_list
    report = verify_bundle(out_file.read_bytes(), tl)
    s = summarise(report)
    assert s.enrolment and s.enrolment["issuer"] == "MY-PERKESO"
    assert s.states["TH"].months_by_branch == {"old_age": 2, "sickness": 2}
    assert str(s.states["TH"].earnings["THB"]) == "31000.00"
    assert {v.status for v in report.records if v.type == "contribution"} == {
        "amended",
        "revoked",
        "valid",
    }

    # The QR code, decoded from the PNG, reaches the same verdict. With two ML-DSA-44
    # cosignatures on every checkpoint the bundle does not fit in one code: the code
    # is a reference to the file, which the verifier is given.
    [found] = zxingcpp.read_barcodes(Image.open(png))
    content = read_qr_text(found.text)
    assert isinstance(content, BundleRef)
    content.check(out_file.read_bytes())
    (tmp_path / "qr.txt").write_text(found.text)
    code, qr_out, err = run(
        "verify-bundle", str(tmp_path / "qr.txt"), *trust, "--bundle", str(out_file)
    )
    assert code == 0 and qr_out == out, err

    # The worker's own key opens the home node's part (where the enrolment is) and the
    # hosts' parts once they mirror the home log; the parts overlap and merge, each
    # record once.
    for node in (th, fed.nodes[2]):
        wait_for(
            f"{node.agency} mirroring MY",
            lambda node=node: (st := node.mirrors.state("perkeso.gov.my/pel")) and st.size >= 1,
        )
    mine = tmp_path / "mine.json"
    code, out, err = run(
        "bundle", PWID, *trust, "--out", str(mine), "--holder-key", str(tmp_path / "holder.pem")
    )  # fmt: skip
    assert code == 0, err
    assert "6 records" in out
    merged = verify_bundle(mine.read_bytes(), tl)
    statuses = [(v.key, v.status) for v in report.records]
    assert [(v.key, v.status) for v in merged.records] == statuses

    # A host that is neither home nor named gets nothing from the other members' nodes
    # (its own node answers its own agency).
    sg_key = str(fed.dirs[2] / KEY_FILES["issuer"])
    code, _, err = run(
        "bundle", PWID, *trust, "--out", str(tmp_path / "x.json"), "--key", sg_key,
        "--agency", "SG-CPF", "--url", fed.urls[0], "--url", fed.urls[1],
    )  # fmt: skip
    assert code == 1 and "[no_records]" in err and "Traceback" not in err
