"""What a bundle's QR code holds, and reading it back (ledger/bundles/qr.py)."""

from __future__ import annotations

import pytest
import segno

from pel.ledger.bundles.bundle import Bundle, BundleError
from pel.ledger.bundles.qr import (
    QR_CAPACITY,
    QR_PREFIX,
    bundle_from,
    encode_qr_text,
    qr_content,
    reference_text,
)
from tests import factories as f
from tests.bundle_kit import Kit


def _bundle(months: int, *, pq: bool = True) -> Bundle:
    # Under the default policy each checkpoint carries two ML-DSA-44 cosignatures
    # (2,428 bytes each): no bundle fits in one code. A federation whose witnesses count
    # with either key, with Ed25519 cosignatures only, makes the small one.
    kit = Kit(policy="both" if pq else "either")
    kit.append("MM-SSB", f.enrolment())
    for m in range(months):
        body = {"currency": "THB", "period": f"2025-{m % 12 + 1:02d}"}
        kit.append("TH-SSO", f.contribution(body=body))
    agencies = ("MM-SSB", "TH-SSO") if months else ("MM-SSB",)
    notes = {a: kit.checkpoint(a, pq=pq) for a in agencies}
    return kit.bundle(f.PWID, *agencies, **notes)


@pytest.fixture(scope="module")
def small() -> Bundle:
    return _bundle(0, pq=False)


def test_with_ml_dsa_cosignatures_even_one_record_is_referenced() -> None:
    one = _bundle(0)
    assert len(encode_qr_text(one)) > QR_CAPACITY
    assert qr_content(one)[0] == "reference"


@pytest.fixture(scope="module")
def large() -> Bundle:
    return _bundle(12)


def test_the_capacity_is_one_qr_codes() -> None:
    # The largest text one code at level M holds in alphanumeric mode, and one more.
    fits = QR_PREFIX + "A" * (QR_CAPACITY - len(QR_PREFIX))
    assert segno.make(fits, error="m", micro=False, mode="alphanumeric").version == 40
    with pytest.raises(segno.DataOverflowError):
        segno.make(fits + "A", error="m", micro=False, mode="alphanumeric")


def test_a_bundle_that_fits_is_embedded(small: Bundle) -> None:
    kind, text = qr_content(small, "https://example.org/b.json")
    assert kind == "embedded" and text == encode_qr_text(small)
    assert len(text) <= QR_CAPACITY
    assert bundle_from(text.encode()) == small.to_bytes()


def test_a_bundle_too_large_is_referenced(large: Bundle) -> None:
    assert len(encode_qr_text(large)) > QR_CAPACITY
    kind, text = qr_content(large, "https://example.org/b.json")
    assert kind == "reference"
    assert text == f"pel-bundle-ref/v1 sha256={large.digest()} https://example.org/b.json"
    assert qr_content(large) == ("reference", reference_text(large.digest()))


def test_reading_a_reference_needs_the_file_it_names(small: Bundle, large: Bundle) -> None:
    text = (reference_text(large.digest(), "https://example.org/b.json") + "\n").encode()
    assert bundle_from(text, lambda: large.to_bytes()) == large.to_bytes()
    with pytest.raises(BundleError) as info:
        bundle_from(text)
    assert info.value.code == "bundle_needed" and "https://example.org/b.json" in str(info.value)
    with pytest.raises(BundleError) as info:
        bundle_from(text, lambda: small.to_bytes())
    assert info.value.code == "digest_mismatch"


def test_a_bundle_file_is_returned_as_it_is_and_its_reader_is_not_called(small: Bundle) -> None:
    def unread() -> bytes:
        raise AssertionError("the referenced file is read only for a reference")

    assert bundle_from(small.to_bytes(), unread) == small.to_bytes()
    assert bundle_from(encode_qr_text(small).encode(), unread) == small.to_bytes()


def test_qr_text_that_is_not_ascii_is_refused() -> None:
    with pytest.raises(BundleError) as info:
        bundle_from(QR_PREFIX.encode() + "é".encode())
    assert info.value.code == "bad_format"
