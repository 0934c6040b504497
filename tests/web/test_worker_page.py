"""The worker's page in headless Chromium: with only their key file, a worker fetches
their own records from two members' nodes with signed requests, builds the bundle,
downloads it and has it verified; another worker's key gets nothing."""

from __future__ import annotations

import base64
import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from pel.ledger.bundles.bundle import verify_bundle
from pel.ledger.bundles.qr import BundleRef, bundle_from, read_qr_text
from pel.ledger.errors import BundleError
from pel.node.access.access_log import reads_of
from pel.node.agency_node import Node
from pel.node.workers.bundles import build_part
from tests import factories as f
from tests.e2e.cluster import wait_for
from tests.e2e.test_federation import Federation, federation  # noqa: F401 (fixture)
from tests.node.test_cli import run
from tests.web.test_pages import browser, page, trust_list, wait_witnessed  # noqa: F401

pytestmark = pytest.mark.slow


def keygen(path: Path, pwid: str) -> str:
    """``pel worker keygen``: the key file (0600) and the public key it prints."""
    code, out, err = run("worker", "keygen", "--out", str(path), "--pwid", pwid)
    assert code == 0, err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [line] = [x for x in out.splitlines() if x.startswith("holder_key: ")]
    return line.removeprefix("holder_key: ")


def enrol(node: Node, pwid: str, holder_key: str) -> None:
    record = f.enrolment(pwid=pwid)
    record["body"]["home_country"] = pwid[:2]
    record["body"]["holder_key"] = holder_key
    node.submit([record])


def ready(node: Node, pwid: str, records: int) -> bool:
    part = build_part(node, pwid)
    return len(part.bundle.records) == records and not part.pending


def load_key(pg: Any, path: Path) -> None:
    pg.wait_for_selector("body[data-ready=true]")
    pg.set_input_files("#key-file", str(path))
    pg.wait_for_selector("#fetch:not([disabled])")


def test_a_worker_fetches_builds_and_verifies_their_own_bundle(
    federation: Federation,  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    fed = federation
    th, my = fed.nodes[0], fed.nodes[1]
    mine, theirs = tmp_path / "mine.key", tmp_path / "theirs.key"
    enrol(th, f.PWID, keygen(mine, f.PWID))
    enrol(th, f.PWID2, keygen(theirs, f.PWID2))
    my.submit([f.contribution(body={"period": p}) for p in ("2026-08", "2026-09", "2026-10")])
    my.submit([f.contribution(pwid=f.PWID2)])
    wait_witnessed(th, th.log.state()[0])
    wait_witnessed(my, my.log.state()[0])
    # Each node holds the other's log too once its mirror is witnessed: 1 + 3 records.
    for node in (th, my):
        wait_for(f"{node.agency}'s part", lambda node=node: ready(node, f.PWID, 4), timeout=60)
    private = json.loads(mine.read_text())["private_key_pkcs8"]
    sent: list[tuple[str, str | None, bytes | None]] = []
    page.on(
        "request",
        lambda r: sent.append((r.url, r.headers.get("authorization"), r.post_data_buffer)),
    )
    page.goto(fed.urls[0] + "/worker")
    load_key(page, mine)
    assert page.input_value("#pwid") == f.PWID  # from the key file
    with page.expect_download() as got:
        page.click("#fetch")
        page.wait_for_selector("#status[data-status=built]")
        page.click("#download")
    for agency in ("TH-SSO", "MY-PERKESO"):
        item = page.locator(f"#nodes li[data-agency={agency}]")
        assert item.get_attribute("data-status") == "ok", item.inner_text()
    assert page.get_attribute("#status", "data-records") == "4"
    page.wait_for_selector("#verdict[data-status]")
    assert page.get_attribute("#verdict", "data-status") == "valid", page.inner_text("#verdict")
    # The downloaded file is a bundle the Python verifier accepts: both logs' records.
    data = Path(got.value.path()).read_bytes()
    report = verify_bundle(data, trust_list(fed))
    assert report.pwid == f.PWID
    assert {r.record["issuer"] for r in report.records} == {"TH-SSO", "MY-PERKESO"}
    # The QR code drawn in the page decodes (zxing) to a reference to that very file:
    # with Ed25519 and ML-DSA-44 cosignatures on every checkpoint the bundle is too
    # large for one code, and the reference's digest must match the downloaded bundle.
    assert page.get_attribute("#download-qr", "download") == f"bundle-{f.PWID}.qr.png"
    assert page.get_attribute("#status", "data-qr") == "reference"
    src = page.get_attribute("#qr", "src")
    png = base64.b64decode(src.removeprefix("data:image/png;base64,"))
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert isinstance(read_qr_text(found.text), BundleRef)
    assert bundle_from(found.text.encode(), lambda: data) == data
    with pytest.raises(BundleError):
        bundle_from(found.text.encode(), lambda: data + b" ")
    # The key never left the page: only signed requests went out, to each node.
    asks = [(u, a) for u, a, _ in sent if "/v1/pwids/" in u]
    assert {u.split("/v1/")[0] for u, _ in asks} == set(fed.urls)
    assert all(a and a.startswith("Pel-Holder ") for _, a in asks)
    assert not any(
        private in (u + (a or "") + (b or b"").decode(errors="replace")) for u, a, b in sent
    )
    # Each node recorded the worker's read.
    assert any(r["who"] == "the worker (holder key)" for r in reads_of(my, f.PWID))

    # Another worker's key, asking for this worker's records: every node refuses.
    page.goto(fed.urls[1] + "/worker")
    load_key(page, theirs)
    page.fill("#pwid", f.PWID)
    page.click("#fetch")
    page.wait_for_selector("#status[data-status=none]")
    statuses = page.eval_on_selector_all("#nodes li", "ls => ls.map(l => l.dataset.status)")
    assert statuses == ["refused"] * len(fed.urls), statuses
    assert page.locator("#download").count() == 0


@pytest.mark.parametrize(
    ("text", "alnum"),
    [
        ("PEL-BUNDLE/V1:" + "0A$ %*+-./:Z" * n, True)
        for n in (1, 12, 60, 200, 280)  # versions 2 to 40: version bits from 7 on
    ]
    + [("pel-bundle-ref/v1 sha256=" + "ab" * 32, False)],
)
def test_the_pages_qr_codes_decode(
    federation: Federation,  # noqa: F811
    page: Any,  # noqa: F811
    text: str,
    alnum: bool,
) -> None:
    page.goto(federation.urls[0] + "/worker")
    page.wait_for_selector("body[data-ready=true]")
    got = page.evaluate(
        "async ([t, a]) => { const m = qrMatrix(t, a); "
        "return [m.length, b64encode(await qrPng(m))]; }",
        [text, alnum],
    )
    size, png = got
    assert (size - 17) % 4 == 0 and 21 <= size <= 177
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(png))))
    assert found.text == text
