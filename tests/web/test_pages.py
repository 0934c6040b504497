"""The verifier and explorer pages in headless Chromium, against a three-node federation.

A worker's bundle holds records of two members' logs, each with a tlog-proof against a
checkpoint cosigned by the witness quorum. The page must accept it and summarise it,
reject it after any tampering, and do the same as a saved file opened with no server.
Chromium is Debian's (``make test`` installs it); without it these tests skip, and
fail under CI=true.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pel.crypto.keys import SigningKey
from pel.ledger.bundles.bundle import Bundle, BundleError, build_bundle, make_entry, verify_bundle
from pel.ledger.bundles.qr import encode_qr_text, reference_text
from pel.ledger.federation.trust_list import RetiredKey, SignedTrustList, TrustList
from pel.node.access.tokens import create_token
from pel.node.agency_node import Node
from tests import factories as f
from tests.bundle_kit import Kit
from tests.conftest import IN_CI
from tests.e2e.test_federation import Federation, federation  # noqa: F401 (fixture)
from tests.ledger.test_retired_keys import AGENCY as RK_AGENCY
from tests.ledger.test_retired_keys import rotate, signed_bundle
from tests.node.test_cli import run

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright; skipped (failed in CI) when absent."""
    problem = None
    if not os.access(CHROMIUM, os.X_OK):
        problem = f"no Chromium at {CHROMIUM} (make test installs Debian's chromium as root)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            problem = "the playwright package is not installed (pip install -e '.[dev]')"
    if problem:
        if IN_CI:
            pytest.fail(f"browser tests cannot run in CI: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=WAIT_MS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert not errors, errors


# ---- a worker's bundle, from two members' logs ------------------------------------------


def wait_witnessed(node: Node, size: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        w = node.witnessed()
        if w["size"] == size and w["witnessed"]:
            return
        assert time.monotonic() < deadline, f"{node.agency}: not cosigned in time: {w}"
        time.sleep(0.1)


def make_bundle(fed: Federation) -> bytes:
    """A bundle of TH-SSO and MY-PERKESO records about one worker (pel-bundle/v1)."""
    th, my = fed.nodes[0], fed.nodes[1]
    th_contrib = [
        f.contribution(body={"currency": "THB", "period": p, "insured_earnings": "15000.00"})
        for p in ("2026-07", "2026-08", "2026-09")
    ]
    th_records = [f.enrolment(), *th_contrib]
    th_records += [
        f.amendment(th_contrib[0], issuer="TH-SSO"),
        f.revocation(th_contrib[2], issuer="TH-SSO"),
    ]
    my_records = [
        f.contribution(body={"period": "2026-10", "contributions": {"old_age": "49.00"}}),
        f.entitlement(),
    ]
    entries = []
    for node, drafts in ((th, th_records), (my, my_records)):
        other = f.contribution(pwid=f.PWID2, body={"currency": "THB"})
        node.submit([other, f.contribution(pwid=f.PWID2)])  # someone else's records
        appended = node.submit(drafts)
        size = node.log.state()[0]
        wait_witnessed(node, size)
        note = node.log.cosigned_note(size)
        for a in appended:
            record = json.loads(node.log.entry(a.index))
            entries.append(
                make_entry(record, a.index, node.log.inclusion_proof(a.index, size), note)
            )
    tl = trust_list(fed)
    bundle = build_bundle(f.PWID, tl, entries).to_bytes()
    verify_bundle(bundle, tl)  # the Python verifier accepts it
    return bundle


def trust_list(fed: Federation) -> TrustList:
    return SignedTrustList.from_json(fed.trust_file.read_text()).trust_list


@pytest.fixture
def bundle(federation: Federation) -> bytes:  # noqa: F811
    return make_bundle(federation)


@pytest.fixture
def verifier(federation: Federation, page: Any) -> Any:  # noqa: F811
    """The page, showing the first node's /verify."""
    page.goto(federation.urls[0] + "/verify")
    return page


# ---- driving the page ---------------------------------------------------------------------


def verdict_after(page: Any, act: Any) -> tuple[str, str]:
    """Run ``act`` on the loaded page; the new verdict's status and text."""
    page.wait_for_selector("body[data-ready=true]")
    page.locator("#verdict").evaluate("v => { v.removeAttribute('data-status'); }")
    act()
    page.wait_for_selector("#verdict[data-status=valid], #verdict[data-status=rejected]")
    verdict = page.locator("#verdict")
    return verdict.get_attribute("data-status"), verdict.inner_text()


def verify_file(page: Any, data: bytes) -> tuple[str, str]:
    """Give the page ``data`` as the chosen file."""
    file = {"name": "b.json", "mimeType": "application/json", "buffer": data}
    return verdict_after(page, lambda: page.set_input_files("#bundle-file", files=[file]))


def drop_file(page: Any, data: bytes) -> tuple[str, str]:
    """Drop ``data`` as a file on the page's drop zone."""
    script = """b64 => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "bundle.json", {type: "application/json"}));
        document.getElementById("drop").dispatchEvent(
            new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }"""
    return verdict_after(page, lambda: page.evaluate(script, base64.b64encode(data).decode()))


def verify_text(page: Any, text: str) -> tuple[str, str]:
    """Paste ``text`` and press the button."""

    def act() -> None:
        page.fill("#bundle-text", text)
        page.click("#verify-text")

    return verdict_after(page, act)


def table_rows(page: Any, selector: str) -> list[list[list[str]]]:
    """The body rows of each table under ``selector``, as cell texts."""
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        selector + " table",
        "ts => ts.map(t => [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent)))",
    )


def screenshot(page: Any, name: str) -> None:
    """With PEL_SCREENSHOTS=DIR, keep a full-page picture of what the test saw."""
    folder = os.environ.get("PEL_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def replace_once(data: bytes, old: str, new: str) -> bytes:
    assert data.count(old.encode()) >= 1, old
    out = data.replace(old.encode(), new.encode(), 1)
    assert len(out) == len(data) + len(new) - len(old)
    return out


def flip_char(text: str, i: int) -> str:
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]


def test_verify_page_accepts_a_bundle_and_summarises_it(
    bundle: bytes,
    verifier: Any,
) -> None:
    assert "version 1, 3 members, witness quorum 2" in verifier.inner_text("#trust-status")
    status, text = verify_file(verifier, bundle)
    assert status == "valid", text
    assert "Valid: 8 records of MM-7K3Q9X2M4T8V1B5N" in text
    head = verifier.inner_text("#summary > p")
    assert "home country MM, enrolled on 2026-01-01 by TH-SSO. 8 records" in head
    assert hashlib.sha256(bundle).hexdigest() == verifier.inner_text("#bundle-digest")
    th = verifier.locator("section.state[data-country=TH]").inner_text()
    my = verifier.locator("section.state[data-country=MY]").inner_text()
    # TH: three months filed, one revoked; the amended month's earnings count as amended.
    assert "TH: TH-SSO (TH-SSO)\n" in th
    assert "1 revoked; 1 amended; checkpoints cosigned by MY-PERKESO, SG-CPF." in th
    months, totals = table_rows(verifier, "section.state[data-country=TH]")
    assert months == [
        ["employment injury", "2", "2026-07", "2026-08"],
        ["invalidity", "2", "2026-07", "2026-08"],
    ]
    assert totals == [["THB", "17500.00", "110.26"]]  # 15000 + 2500 (amended); two months' dues
    corrections = verifier.inner_text("#corrections")
    assert (
        "amends" in corrections and "revokes" in corrections and "(clerical error)" in corrections
    )
    months, totals, entitlements = table_rows(verifier, "section.state[data-country=MY]")
    assert months == [["old age", "1", "2026-10", "2026-10"]]
    assert totals == [["MYR", "2450.00", "49.00"]]
    assert entitlements == [
        ["lump sum refund", "granted", "1200.00 MYR one-off", "2026-12-01", "yes"]
    ]
    assert "checkpoints cosigned by SG-CPF, TH-SSO." in my
    assert f.PWID2 not in verifier.inner_text("body")
    screenshot(verifier, "verify.png")


def test_verify_page_rejects_tampering(
    federation: Federation,  # noqa: F811
    bundle: bytes,
    verifier: Any,
) -> None:
    doc = json.loads(bundle)
    first, last = doc["records"][1], doc["records"][-1]
    hash_line = first["proof"].split("\n")[2]
    sig = last["record"]["sig"]
    note = first["proof"].split("\n\n", 1)[1]
    lines = note.rstrip("\n").split("\n\n")[1].split("\n")  # the log's line, then witnesses'
    cosig = next(x for x in lines[1:] if len(x) < 200)  # an Ed25519 cosignature line
    pq = next(x for x in lines if len(x) > 3000)  # an ML-DSA-44 cosignature line
    cases = {
        "a hash": (hash_line, flip_char(hash_line, 5), "bad_inclusion_proof"),
        "a record field": (
            '"insured_earnings":"15000.00"',
            '"insured_earnings":"15000.01"',
            "bad_record_signature",
        ),
        "a signature": (sig, flip_char(sig, 10), "bad_record_signature"),
        "a cosignature": (cosig, flip_char(cosig, 30), "bad_cosignature"),
        "the trust list": (
            doc["trust_list"]["digest"],
            flip_char(doc["trust_list"]["digest"], 3),
            "trust_list_mismatch",
        ),
    }
    for what, (old, new, code) in cases.items():
        status, text = verify_file(verifier, replace_once(bundle, old, new))
        assert status == "rejected", what
        assert f"[{code}]" in text, (what, text)
        assert "Rejected: " in text and verifier.inner_text("#summary") == ""
    # The page cannot check an ML-DSA-44 signature: a flipped bit in one passes here, and
    # the verdict says that those cosignatures were not checked; pel verify-bundle
    # refuses it.
    changed = replace_once(bundle, pq, flip_char(pq, 1000))
    status, text = verify_file(verifier, changed)
    assert status == "valid" and "ML-DSA-44 cosignature(s) were not checked here" in text
    assert python_code(changed, trust_list(federation)) == "bad_cosignature"
    # Not canonical: the same JSON with a space.
    status, text = verify_file(verifier, bundle.replace(b'{"format"', b'{ "format"', 1))
    assert status == "rejected" and "[not_canonical]" in text


def python_code(data: bytes, tl: TrustList) -> str:
    try:
        verify_bundle(data, tl)
    except BundleError as exc:
        return exc.code
    return "valid"


def test_every_single_byte_change_is_rejected_with_the_python_code(
    federation: Federation,  # noqa: F811
    bundle: bytes,
    verifier: Any,
) -> None:
    """~400 single-byte changes spread over the bundle: the page rejects each one, with the
    code ledger/bundle.py gives it."""
    verifier.wait_for_selector("body[data-ready=true]")
    # The ML-DSA-44 signatures' base64: the page does not check those bytes (see the
    # page's note); the Python verifier does. Positions in them are compared apart.
    spans = [range(m.start(), m.end()) for m in re.finditer(rb"[A-Za-z0-9+/=]{3000,}", bundle)]
    assert spans
    step = max(1, len(bundle) // 400)
    mutated = []
    for i in range(0, len(bundle), step):
        copy = bytearray(bundle)
        copy[i] ^= (i % 7) + 1
        mutated.append(bytes(copy))
    js_codes = verifier.evaluate(
        """async (items) => {
            const codes = [];
            for (const b64 of items) {
                const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                try { await verifyBundle(bytes, trust); codes.push("valid"); }
                catch (e) { codes.push(e.code || String(e)); }
            }
            return codes;
        }""",
        [base64.b64encode(b).decode() for b in [bundle, *mutated]],
    )
    tl = trust_list(federation)
    assert js_codes[0] == "valid"
    py_codes = [python_code(b, tl) for b in mutated]
    positions = list(range(0, len(bundle), step))
    inside = [any(pos in span for span in spans) for pos in positions]
    assert "valid" not in py_codes
    assert "valid" not in [j for j, pq in zip(js_codes[1:], inside, strict=True) if not pq]
    differ = [
        (i, p, j)
        for i, (p, j, pq) in enumerate(zip(py_codes, js_codes[1:], inside, strict=True))
        if p != j and not (pq and j == "valid")
    ]
    assert differ == [], differ
    assert {"bad_inclusion_proof", "bad_record_signature", "bad_cosignature"} <= set(py_codes)


def test_verify_page_reads_qr_text(
    bundle: bytes,
    verifier: Any,
) -> None:
    parsed = Bundle.from_json(bundle)
    # A reference before any bundle: the verifier needs the file.
    status, text = verify_text(verifier, reference_text(parsed.digest(), "https://example.org/b"))
    assert status == "rejected" and "[bundle_needed]" in text and "example.org/b" in text
    status, text = verify_text(verifier, encode_qr_text(parsed))  # the bundle itself, base45+zlib
    assert status == "valid", text
    assert verifier.inner_text("#bundle-digest") == parsed.digest()
    status, text = verify_text(verifier, reference_text(parsed.digest()) + "\n")
    assert status == "valid" and "refers to the bundle verified here" in text
    status, text = verify_text(verifier, reference_text("0" * 64))
    assert status == "rejected" and "[digest_mismatch]" in text
    status, text = verify_text(verifier, encode_qr_text(parsed)[:-3])
    assert status == "rejected" and "[bad_format]" in text
    status, text = verify_text(verifier, bundle.decode())  # pasted bundle text
    assert status == "valid", text


def test_saved_verifier_works_from_a_file(
    federation: Federation,  # noqa: F811
    bundle: bytes,
    page: Any,
    tmp_path: Path,
) -> None:
    out = tmp_path / "standalone" / "verify.html"
    out.parent.mkdir()
    code, stdout, err = run(
        "web", "verifier", "--trust", str(federation.trust_file), "--out", str(out)
    )
    assert code == 0, err
    assert "trust list version 1" in stdout
    saved = tmp_path / "saved.html"
    saved.write_bytes(httpx.get(federation.urls[0] + "/verify").content)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    for html in (out, saved):
        page.goto(html.as_uri())
        status, text = verify_file(page, bundle)
        assert status == "valid", (html, text)
        assert page.locator("section.state").count() == 2
        # Dropped on the page, a record about another worker is refused.
        status, text = drop_file(page, replace_once(bundle, f.PWID, "MM-0000000000000000"))
        assert status == "rejected" and "[pwid_mismatch]" in text
    assert requests == [out.as_uri(), saved.as_uri()]  # the pages fetched nothing


def test_verifier_loads_another_trust_list(
    federation: Federation,  # noqa: F811
    bundle: bytes,
    page: Any,
    tmp_path: Path,
) -> None:
    plain = tmp_path / "verify.html"
    plain.write_text(
        httpx.get(federation.urls[0] + "/verify").text.replace(
            '"federation": "test"', '"federation": "other"', 1
        )
    )
    page.goto(plain.as_uri())
    status, text = verify_file(page, bundle)  # the embedded list is not the bundle's
    assert status == "rejected" and "[trust_list_mismatch]" in text
    page.set_input_files("#trust-file", str(federation.trust_file))
    page.wait_for_selector("#trust-status:has-text('test, version 1')")
    status, text = verify_file(page, bundle)
    assert status == "valid", text


def test_explorer_shows_mirrors_and_flags_when_reported(
    federation: Federation,  # noqa: F811
    page: Any,
) -> None:
    url = federation.urls[0]
    base = httpx.get(url + "/v1/node").json()
    assert "mirrors" in base and "flagged" in base  # a member's node mirrors the others
    # A node that reports no mirrors (one without a federation, or an older one):
    unreported = {k: v for k, v in base.items() if k not in ("mirrors", "flagged")}
    page.route(
        "**/v1/node",
        lambda route: route.fulfill(json=unreported, headers={"Cache-Control": "no-store"}),
    )
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.inner_text("#flagged") == "not reported"
    assert "not reported" in page.locator("#members tr[data-agency=SG-CPF]").inner_text()
    page.unroute("**/v1/node")
    mirrors = {
        "perkeso.gov.my/pel": {
            "agency": "MY-PERKESO",
            "size": 120,
            "verified_at": "2026-11-23T10:00:00Z",
            "behind": 3,
            "error": None,
            "flagged": False,
        },
        "cpf.gov.sg/pel": {
            "agency": "SG-CPF",
            "size": 7,
            "verified_at": None,
            "behind": 0,
            "error": "fork proven",
            "flagged": True,
        },
    }
    reported = {**base, "mirrors": mirrors, "flagged": ["cpf.gov.sg/pel"]}
    page.route(
        "**/v1/node",
        lambda route: route.fulfill(json=reported, headers={"Cache-Control": "no-store"}),
    )
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.inner_text("#flagged") == "cpf.gov.sg/pel"
    my = page.locator("#members tr[data-agency=MY-PERKESO]").inner_text()
    assert "size 120, 3 behind, verified 2026-11-23T10:00:00Z" in my and my.endswith("no")
    sg = page.locator("#members tr[data-agency=SG-CPF]").inner_text()
    assert "size 7, up to date, not verified yet, error: fork proven" in sg
    assert sg.endswith("FLAGGED")


def test_explorer_shows_checkpoint_cosigners_and_members(
    federation: Federation,  # noqa: F811
    bundle: bytes,
    page: Any,
) -> None:
    th = federation.nodes[0]
    size = th.witnessed()["size"]
    page.goto(federation.urls[0] + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.inner_text("#agency") == "TH-SSO"
    assert page.inner_text("#tree-size") == str(size)
    assert page.inner_text("#cosigners") == "MY-PERKESO, SG-CPF"
    assert "met" in page.inner_text("#quorum")
    rows = page.locator("#members tbody tr")
    assert rows.count() == 3
    my = page.locator("#members tr[data-agency=MY-PERKESO]").inner_text()
    assert "cosigned the latest checkpoint" in my and "perkeso.gov.my/pel" in my
    assert "this node" in page.locator("#members tr[data-agency=TH-SSO]").inner_text()
    screenshot(page, "explorer.png")
    # Records are personal data: without a token the look-up is refused, with a reader
    # token of this node it shows the record; browsing by index.
    assert page.input_value("#token") == ""
    page.fill("#index", "0")
    page.click("#show")
    page.wait_for_selector("#lookup-result:has-text('unauthorized')")
    page.fill("#token", create_token(th.tokens, "TH-SSO", "staff", role="reader"))
    rec = next(
        x["record"] for x in json.loads(bundle)["records"] if x["record"]["issuer"] == "TH-SSO"
    )
    page.fill("#issuer", rec["issuer"])
    page.fill("#record-id", rec["id"])
    page.click("#lookup")
    page.wait_for_selector("#record-json")
    assert json.loads(page.inner_text("#record-json")) == rec
    page.fill("#record-id", "no-such-record")
    page.click("#lookup")
    page.wait_for_selector("#lookup-result:has-text('Not found')")
    assert "[not_found]" in page.inner_text("#lookup-result")
    page.fill("#index", "0")
    page.click("#show")
    page.wait_for_selector("#lookup-result:has-text('Index 0,')")
    assert json.loads(page.inner_text("#record-json")) == json.loads(th.log.entry(0))
    page.click("#next")
    page.wait_for_selector("#lookup-result:has-text('Index 1,')")
    assert json.loads(page.inner_text("#record-json")) == json.loads(th.log.entry(1))
    page.click("#prev")
    page.wait_for_selector("#lookup-result:has-text('Index 0,')")
    page.fill("#index", str(th.log.tree_size() + 5))
    page.click("#show")
    page.wait_for_selector("#lookup-result:has-text('No record at index')")
    # The worker's bundle part, with a token of this node.
    page.fill("#token", create_token(th.tokens, "TH-SSO"))
    page.fill("#pwid", f.PWID)
    page.click("#bundle")
    link = page.wait_for_selector("#bundle-result a[download]")
    with page.expect_download() as download:
        link.click()
    part = Path(download.value.path()).read_bytes()
    report = verify_bundle(part, trust_list(federation))
    # TH-SSO's own records, and MY-PERKESO's from its mirror once it holds them.
    ours = {
        x["record"]["id"]
        for x in json.loads(bundle)["records"]
        if x["record"]["issuer"] == "TH-SSO"
    }
    assert ours <= {v.record["id"] for v in report.records}
    assert {v.record["issuer"] for v in report.records} <= {"TH-SSO", "MY-PERKESO"}
    # /docs still works beside the pages.
    assert httpx.get(federation.urls[0] + "/docs").status_code == 200


def test_retired_issuer_keys_as_the_python_verifier_sees_them(
    federation: Federation,  # noqa: F811
    verifier: Any,
) -> None:
    """A record signed with an issuer key rotated out: valid within the key's period,
    refused after it, and a bad signature when the key is not listed at all."""
    verifier.wait_for_selector("body[data-ready=true]")
    items, want = [], []
    for until, listed in (
        ("2026-11-01T09:00:01Z", True),
        ("2026-11-01T09:00:00Z", True),
        ("2026-11-01T09:00:00Z", False),
    ):
        kit = Kit()
        old = kit.trust_list.member(RK_AGENCY)
        assert old is not None
        retired = (RetiredKey(role="issuer", key=old.issuer_key, valid_until=until),)
        new = SigningKey.generate().public_key.to_base64()
        tl = rotate(kit, issuer_key=new, retired_keys=retired if listed else ())
        raw = signed_bundle(kit, tl, "2026-11-01T09:00:00Z")
        items.append([tl.document(), base64.b64encode(raw).decode()])
        want.append(python_code(raw, tl))
    codes = verifier.evaluate(
        """async (items) => {
            const codes = [];
            for (const [doc, b64] of items) {
                const t = await loadTrustList(doc);
                const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                try { await verifyBundle(bytes, t); codes.push("valid"); }
                catch (e) { codes.push(e.code || String(e)); }
            }
            return codes;
        }""",
        items,
    )
    assert want == ["valid", "retired_key", "bad_record_signature"]
    assert codes == want
