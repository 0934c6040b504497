"""Signed requests (``pel-request/v2``): the exact message, the header, strict parsing,
and what a signature is bound to."""

from __future__ import annotations

import base64
import hashlib

import pytest

from pel.crypto.errors import SignatureError
from pel.crypto.keys import SigningKey
from pel.crypto.request import (
    OUTDATED,
    body_digest,
    parse_authorization,
    request_message,
    sign_request,
)

KEY = SigningKey.from_seed(bytes(range(32)))
NONCE = bytes(range(16))
BODY = b'{"pwid":"MM-7K3Q9X2M4T8V1B5N","at":"2040-01-01"}'
EMPTY_SHA256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_the_message_is_written_down_exactly() -> None:
    message = request_message(
        signer="MM-SSB",
        audience="TH-SSO",
        method="POST",
        target="/v1/decisions?x=1",
        time=1767225600,
        nonce=NONCE,
        body_sha256=body_digest(BODY),
    )
    assert message == (
        b"pel-request/v2\n"
        b"Pel-Agency MM-SSB\n"
        b"TH-SSO\n"
        b"POST /v1/decisions?x=1\n"
        b"1767225600\n"
        b"AAECAwQFBgcICQoLDA0ODw==\n" + base64.b64encode(hashlib.sha256(BODY).digest()) + b"\n"
    )
    holder = request_message(
        signer=None,
        audience="TH-SSO",
        method="GET",
        target="/v1/pwids/MM-7K3Q9X2M4T8V1B5N/bundle",
        time=0,
        nonce=NONCE,
        body_sha256=body_digest(b""),
    )
    assert holder.split(b"\n")[1] == b"Pel-Holder"
    assert holder.endswith(f"\n{EMPTY_SHA256}\n".encode())


def test_the_header_carries_what_was_signed() -> None:
    header = sign_request(
        KEY, "post", "/v1/decisions", 1767225600, audience="TH-SSO", body=BODY,
        agency="MM-SSB", nonce=NONCE,
    )  # fmt: skip
    sig = base64.b64encode(
        KEY.sign(
            request_message(
                signer="MM-SSB",
                audience="TH-SSO",
                method="POST",
                target="/v1/decisions",
                time=1767225600,
                nonce=NONCE,
                body_sha256=body_digest(BODY),
            )
        )
    ).decode()
    digest = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert header == (
        "Pel-Agency agency=MM-SSB,aud=TH-SSO,time=1767225600,"
        f"nonce=AAECAwQFBgcICQoLDA0ODw==,body={digest},sig={sig}"
    )
    req = parse_authorization(header)
    assert (req.scheme, req.agency, req.audience, req.time) == (
        "Pel-Agency",
        "MM-SSB",
        "TH-SSO",
        1767225600,
    )
    assert req.covers_body(BODY) and not req.covers_body(BODY + b" ")
    assert req.verify(KEY.public_key, "POST", "/v1/decisions")


def test_a_signature_is_bound_to_method_target_and_signer() -> None:
    header = sign_request(KEY, "GET", "/v1/pwids/x/bundle?a=1", 5, audience="TH-SSO")
    req = parse_authorization(header)
    assert req.agency is None and req.covers_body(b"")
    assert req.verify(KEY.public_key, "GET", "/v1/pwids/x/bundle?a=1")
    for method, target in (
        ("POST", "/v1/pwids/x/bundle?a=1"),
        ("GET", "/v1/pwids/x/bundle"),
        ("GET", "/v1/pwids/x/bundle?a=2"),
        ("GET", "/v1/pwids/y/bundle?a=1"),
        ("GET", "/v1/pwids/x bundle"),  # not a target anyone signs: False, not an error
    ):
        assert not req.verify(KEY.public_key, method, target), (method, target)
    assert not req.verify(SigningKey.generate().public_key, "GET", "/v1/pwids/x/bundle?a=1")
    # The worker's signature does not pass as an agency's, nor the other way round.
    as_agency = header.replace("Pel-Holder ", "Pel-Agency agency=TH-SSO,")
    assert not parse_authorization(as_agency).verify(
        KEY.public_key, "GET", "/v1/pwids/x/bundle?a=1"
    )


def test_every_signature_is_new() -> None:
    a = sign_request(KEY, "POST", "/v1/decisions", 5, audience="TH-SSO", body=BODY, agency="MM-SSB")
    b = sign_request(KEY, "POST", "/v1/decisions", 5, audience="TH-SSO", body=BODY, agency="MM-SSB")
    assert parse_authorization(a).sig != parse_authorization(b).sig


def test_a_v1_header_is_refused_as_outdated() -> None:
    sig = base64.b64encode(KEY.sign(b"pel-request/v1\nGET /x\n5\n")).decode()
    for header in (f"Pel-Agency agency=TH-SSO,time=5,sig={sig}", f"Pel-Holder time=5,sig={sig}"):
        with pytest.raises(SignatureError) as info:
            parse_authorization(header)
        assert info.value.code == OUTDATED == "outdated_request_signature"
        assert "pel-request/v2" in info.value.message


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda h: h.replace("aud=TH-SSO,", ""), "takes exactly"),
        (lambda h: h.replace("aud=TH-SSO", "aud=-TH"), "aud is not an agency id"),
        (
            lambda h: h.replace("nonce=AAECAwQFBgcICQoLDA0ODw==", "nonce=AAECAwQFBgcICQoLDA0ODw"),
            "nonce",
        ),
        (lambda h: h.replace("nonce=AAECAwQFBgcICQoLDA0ODw==", "nonce=AAEC"), "nonce"),
        (lambda h: h.replace(f"body={EMPTY_SHA256}", "body=AA=="), "body"),
        (lambda h: h.replace("time=5", "time=05"), "unix seconds"),
        (lambda h: h + ",nonce=AAECAwQFBgcICQoLDA0ODw==", "malformed"),
        (lambda h: h.replace("Pel-Holder", "Pel-holder"), "unknown authorization scheme"),
    ],
)
def test_parsing_is_strict(change: object, why: str) -> None:
    header = sign_request(KEY, "GET", "/x", 5, audience="TH-SSO", nonce=NONCE)
    with pytest.raises(SignatureError, match=why) as info:
        parse_authorization(change(header))  # type: ignore[operator]
    assert info.value.code == "bad_signature"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("audience", "TH SSO"),
        ("audience", "TH-SSO\nGET /y"),
        ("method", "get"),
        ("target", "x"),
        ("target", "/x\n5"),
        ("target", "/x y"),
        ("nonce", b"short"),
    ],
)
def test_no_field_can_spill_into_another_line(field: str, value: object) -> None:
    fields: dict[str, object] = {
        "signer": "MM-SSB",
        "audience": "TH-SSO",
        "method": "GET",
        "target": "/x",
        "time": 5,
        "nonce": NONCE,
        "body_sha256": body_digest(b""),
    }
    with pytest.raises(SignatureError):
        request_message(**{**fields, field: value})  # type: ignore[arg-type]
