"""Ed25519 keys, record signatures, and RFC 8785 canonical JSON."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pel.crypto.errors import CanonicalJSONError, KeyFormatError, SignatureError
from pel.crypto.jcs import canonicalize
from pel.crypto.keys import PublicKey, SigningKey
from pel.crypto.record import (
    encode_signature,
    record_cut,
    record_signing_bytes,
    sign_record,
    signed_entry,
    verify_record,
)

# RFC 8032 section 7.1, TEST 1 (empty message).
RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_SIG = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


# --- keys ----------------------------------------------------------------------------


def test_rfc8032_test_vector() -> None:
    key = SigningKey.from_seed(bytes.fromhex(RFC8032_SEED))
    assert key.public_key.raw.hex() == RFC8032_PUBLIC
    assert key.sign(b"").hex() == RFC8032_SIG
    assert key.public_key.verify(bytes.fromhex(RFC8032_SIG), b"")
    assert not key.public_key.verify(bytes.fromhex(RFC8032_SIG), b"\x00")


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_from_seed_refuses_wrong_length(size: int) -> None:
    with pytest.raises(KeyFormatError):
        SigningKey.from_seed(bytes(size))


def test_pem_round_trip() -> None:
    key = SigningKey.generate()
    pem = key.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert pem.rstrip().endswith(b"-----END PRIVATE KEY-----")
    again = SigningKey.from_pem(pem)
    assert again.public_key == key.public_key
    assert again.to_pem() == pem
    assert again.sign(b"msg") == key.sign(b"msg")  # Ed25519 is deterministic
    assert key.public_key.verify(again.sign(b"msg"), b"msg")


def test_generated_keys_differ() -> None:
    assert SigningKey.generate().public_key != SigningKey.generate().public_key


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"not a pem",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\n",
    ],
)
def test_from_pem_refuses_garbage(pem: Any) -> None:
    with pytest.raises(KeyFormatError):
        SigningKey.from_pem(pem)


def test_from_pem_refuses_truncated_pem() -> None:
    pem = SigningKey.generate().to_pem()
    lines = pem.splitlines(keepends=True)
    with pytest.raises(KeyFormatError):
        SigningKey.from_pem(lines[0] + lines[1][:20] + b"\n" + lines[-1])


def _pkcs8(key: Any, encryption: Any = None) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    "make", [lambda: ec.generate_private_key(ec.SECP256R1()), ed448.Ed448PrivateKey.generate]
)
def test_from_pem_refuses_other_key_types(make: Any) -> None:
    with pytest.raises(KeyFormatError, match="not an Ed25519 key"):
        SigningKey.from_pem(_pkcs8(make()))


def test_from_pem_refuses_encrypted_key() -> None:
    key = Ed25519PrivateKey.generate()
    SigningKey.from_pem(_pkcs8(key))  # the same key, unencrypted, loads
    encrypted = _pkcs8(key, serialization.BestAvailableEncryption(b"secret"))
    with pytest.raises(KeyFormatError):
        SigningKey.from_pem(encrypted)


def test_repr_hides_the_private_key() -> None:
    seed = bytes(range(32))
    key = SigningKey.from_seed(seed)
    pem_body = "".join(key.to_pem().decode().splitlines()[1:-1])
    for text in (repr(key), str(key), f"{key!r}", repr([key])):
        assert pem_body not in text
        assert pem_body[:16] not in text
        assert seed.hex() not in text
        assert base64.b64encode(seed).decode() not in text
        assert key.public_key.to_base64() in text
    assert not hasattr(key, "__dict__")  # nothing else hangs off the object


def test_public_key_base64_round_trip() -> None:
    pub = SigningKey.from_seed(bytes.fromhex(RFC8032_SEED)).public_key
    text = pub.to_base64()
    assert base64.b64decode(text).hex() == RFC8032_PUBLIC
    assert PublicKey.from_base64(text) == pub
    assert PublicKey.from_raw(bytearray(pub.raw)) == pub
    assert hash(PublicKey.from_raw(pub.raw)) == hash(pub)
    assert text in repr(pub)


@pytest.mark.parametrize("size", [0, 1, 31, 33, 64])
def test_public_key_length_checks(size: int) -> None:
    with pytest.raises(KeyFormatError, match="32 bytes"):
        PublicKey.from_raw(bytes(size))
    with pytest.raises(KeyFormatError, match="32 bytes"):
        PublicKey(bytes(size))
    with pytest.raises(KeyFormatError):
        PublicKey.from_base64(base64.b64encode(bytes(size)).decode())


@pytest.mark.parametrize("text", ["!!!!", "AAAA AAAA", "AAA", "1dqYAYKxCrfVS_7TyWQHOg", "é"])
def test_public_key_from_base64_refuses_non_base64(text: str) -> None:
    with pytest.raises(KeyFormatError):
        PublicKey.from_base64(text)


def test_public_key_verify_refuses_wrong_length_signatures() -> None:
    key = SigningKey.from_seed(bytes.fromhex(RFC8032_SEED))
    sig = key.sign(b"m")
    assert key.public_key.verify(sig, b"m")
    for bad in (b"", sig[:63], sig + b"\x00", sig[:32]):
        assert not key.public_key.verify(bad, b"m")
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    assert not key.public_key.verify(flipped, b"m")
    other = SigningKey.from_seed(bytes(32)).public_key
    assert not other.verify(sig, b"m")


# --- records -------------------------------------------------------------------------

RECORD: dict[str, Any] = {
    "type": "contribution",
    "record_id": "TH-SSO:2026:000001",
    "issuer": "TH-SSO",
    "issued_at": "2026-01-31T00:00:00Z",
    "pwid": "hmac:4bF1d0",
    "body": {
        "amount": "1250.00",
        "currency": "THB",
        "period": {"from": "2026-01", "to": "2026-01"},
        "months": [1, 2, 3],
        "employer_paid": True,
        "note": None,
    },
}


@pytest.fixture(scope="module")
def issuer() -> SigningKey:
    return SigningKey.from_seed(b"\x05" * 32)


@pytest.fixture
def signed(issuer: SigningKey) -> dict[str, Any]:
    return sign_record(RECORD, issuer)


def test_sign_and_verify_round_trip(issuer: SigningKey, signed: dict[str, Any]) -> None:
    verify_record(signed, issuer.public_key)
    assert set(signed) == set(RECORD) | {"sig"}
    assert {k: v for k, v in signed.items() if k != "sig"} == RECORD
    raw = base64.b64decode(signed["sig"], validate=True)
    assert len(raw) == 64
    assert issuer.public_key.verify(raw, canonicalize(RECORD))


def test_signing_bytes_are_jcs_without_sig(signed: dict[str, Any]) -> None:
    want = canonicalize(RECORD)
    assert record_signing_bytes(signed) == want == record_signing_bytes(RECORD)
    assert b'"sig"' not in want
    assert want.startswith(b'{"body":{"amount":"1250.00","currency":"THB","employer_paid":true,')


def test_one_encoding_gives_the_signing_bytes_and_the_signed_entry(
    issuer: SigningKey, signed: dict[str, Any]
) -> None:
    signing, offset = record_cut(signed)
    assert (signing, offset) == record_cut(RECORD)  # sig is left out
    assert signing == record_signing_bytes(signed)
    assert signed_entry(signing, offset, signed["sig"]) == canonicalize(signed)
    raw = base64.b64decode(signed["sig"])
    assert encode_signature(raw) == signed["sig"]


@pytest.mark.parametrize("sig", ['a"b', "a\\b", "AA==\n", "é"])
def test_signed_entry_refuses_a_sig_that_is_not_base64(sig: str) -> None:
    with pytest.raises(SignatureError):
        signed_entry(*record_cut(RECORD), sig)


def test_sign_record_copies_and_replaces_an_old_sig(issuer: SigningKey) -> None:
    original = copy.deepcopy(RECORD)
    first = sign_record(RECORD, issuer)
    assert original == RECORD  # input untouched
    resigned = sign_record({**RECORD, "sig": "stale"}, issuer)
    assert resigned["sig"] == first["sig"]
    verify_record(resigned, issuer.public_key)


def _leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaf_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaf_paths(v, (*path, i))
    else:
        yield path


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return ""
    return value + "x"


LEAVES = [p for p in _leaf_paths(RECORD)]


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: ".".join(map(str, p)))
def test_changing_any_field_value_fails(
    issuer: SigningKey, signed: dict[str, Any], path: tuple[Any, ...]
) -> None:
    rec = copy.deepcopy(signed)
    node = rec
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = _changed(node[path[-1]])
    with pytest.raises(SignatureError, match="does not verify"):
        verify_record(rec, issuer.public_key)


def test_leaf_paths_cover_the_record() -> None:
    assert len(LEAVES) == 14
    assert ("body", "months", 2) in LEAVES


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(extra="x"),
        lambda r: r["body"].update(extra=0),
        lambda r: r["body"]["months"].append(4),
        lambda r: r.pop("pwid"),
        lambda r: r["body"].pop("note"),
        lambda r: r["body"].update(amount=1250),  # same text, other JSON type
        lambda r: r["body"].update(note="null"),
    ],
)
def test_adding_removing_or_retyping_fields_fails(
    issuer: SigningKey, signed: dict[str, Any], change: Any
) -> None:
    rec = copy.deepcopy(signed)
    change(rec)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_record(rec, issuer.public_key)


def test_key_order_does_not_matter(issuer: SigningKey, signed: dict[str, Any]) -> None:
    reordered = dict(reversed(list(signed.items())))
    reordered["body"] = dict(reversed(list(signed["body"].items())))
    verify_record(reordered, issuer.public_key)


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_changed_sig_fails(issuer: SigningKey, signed: dict[str, Any], index: int) -> None:
    raw = bytearray(base64.b64decode(signed["sig"]))
    raw[index] ^= 0x01
    rec = {**signed, "sig": base64.b64encode(bytes(raw)).decode()}
    with pytest.raises(SignatureError, match="does not verify"):
        verify_record(rec, issuer.public_key)


def test_another_key_fails(signed: dict[str, Any]) -> None:
    other = SigningKey.from_seed(b"\x06" * 32)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_record(signed, other.public_key)


def test_missing_sig_fails(issuer: SigningKey) -> None:
    with pytest.raises(SignatureError, match="no signature"):
        verify_record(RECORD, issuer.public_key)


@pytest.mark.parametrize("sig", [None, 42, b"bytes", ["x"]])
def test_non_string_sig_fails(issuer: SigningKey, signed: dict[str, Any], sig: Any) -> None:
    with pytest.raises(SignatureError, match="no signature"):
        verify_record({**signed, "sig": sig}, issuer.public_key)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s + "!",
        lambda s: s[:-2],  # padding removed
        lambda s: s + "=",  # excess padding
        lambda s: s[:10] + " " + s[10:],
        lambda s: s.replace("+", "-").replace("/", "_") + ("" if "+" in s or "/" in s else "-"),
        lambda s: "é" + s,
    ],
)
def test_non_base64_sig_fails(issuer: SigningKey, signed: dict[str, Any], mangle: Any) -> None:
    bad = mangle(signed["sig"])
    assert bad != signed["sig"]
    with pytest.raises(SignatureError, match="not standard base64"):
        verify_record({**signed, "sig": bad}, issuer.public_key)


@pytest.mark.parametrize("size", [0, 32, 63, 65])
def test_wrong_length_sig_fails(issuer: SigningKey, signed: dict[str, Any], size: int) -> None:
    raw = (base64.b64decode(signed["sig"]) * 2)[:size]
    with pytest.raises(SignatureError):
        verify_record({**signed, "sig": base64.b64encode(raw).decode()}, issuer.public_key)


def test_non_canonical_base64_sig_fails(issuer: SigningKey, signed: dict[str, Any]) -> None:
    sig = signed["sig"]
    assert sig.endswith("==")  # 64 bytes: the last digit carries 4 unused bits
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = digits.index(sig[-3])
    tweaked = sig[:-3] + digits[last ^ 0x01] + "=="
    assert base64.b64decode(tweaked) == base64.b64decode(sig)
    with pytest.raises(SignatureError):
        verify_record({**signed, "sig": tweaked}, issuer.public_key)


# --- RFC 8785 canonical JSON ---------------------------------------------------------


def test_jcs_sorts_keys_and_drops_whitespace() -> None:
    assert canonicalize({"b": 1, "a": [True, None, "x"]}) == b'{"a":[true,null,"x"],"b":1}'
    assert canonicalize({"z": {"y": 1, "x": [{"b": 2, "a": 1}]}, "a": {}}) == (
        b'{"a":{},"z":{"x":[{"a":1,"b":2}],"y":1}}'
    )
    assert canonicalize([]) == b"[]"
    assert canonicalize({"10": 1, "9": 2, "A": 3, "a": 4, "_": 5}) == (
        b'{"10":1,"9":2,"A":3,"_":5,"a":4}'
    )


def test_jcs_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3 example.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonicalize(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (1.0, b"1"),
        (-0.0, b"0"),
        (0.0, b"0"),
        (4.50, b"4.5"),
        (2e-3, b"0.002"),
        (0.000001, b"0.000001"),
        (1e-7, b"1e-7"),
        (1e20, b"100000000000000000000"),
        (1e21, b"1e+21"),
        (1e30, b"1e+30"),
        (-1.5, b"-1.5"),
        (333333333.33333329, b"333333333.3333333"),
        (5e-324, b"5e-324"),
        (2**53 - 1, b"9007199254740991"),
        (-(2**53 - 1), b"-9007199254740991"),
        (0, b"0"),
        (True, b"true"),
        (False, b"false"),
        (None, b"null"),
    ],
)
def test_jcs_number_and_literal_formatting(value: Any, want: bytes) -> None:
    assert canonicalize(value) == want
    assert canonicalize([value]) == b"[" + want + b"]"
    assert canonicalize({"k": value}) == b'{"k":' + want + b"}"


def test_jcs_string_escaping() -> None:
    # RFC 8785 section 3.2.2.2 example string.
    value = "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/"
    assert canonicalize(value) == '"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"'.encode()
    assert canonicalize("\b\f\n\r\t\x00\x1f") == b'"\\b\\f\\n\\r\\t\\u0000\\u001f"'


@pytest.mark.parametrize("text", ["é", "€", "\U0001f600", "ไทย", "\u2028", "\x7f", "/"])
def test_jcs_does_not_escape_unicode(text: str) -> None:
    assert canonicalize(text) == b'"' + text.encode("utf-8") + b'"'
    assert canonicalize({text: text}) == f'{{"{text}":"{text}"}}'.encode()


@pytest.mark.parametrize(
    "value",
    [
        2**53,
        -(2**53),
        2**64,
        float("nan"),
        float("inf"),
        float("-inf"),
        {"a": 2**53},
        [1, [2, [2**63]]],
        {"a": float("nan")},
        {1: "x"},
        {"a": {(1, 2): "x"}},
        b"bytes",
        {"a": object()},
        {"a": {1, 2}},
        "\ud800",
        {"a": "\udfff"},
        {"\ud83d": 1},
    ],
)
def test_jcs_refuses_what_json_cannot_carry(value: Any) -> None:
    with pytest.raises(CanonicalJSONError) as info:
        canonicalize(value)
    assert info.value.code == "bad_json"


def test_record_with_unrepresentable_value_cannot_be_signed(issuer: SigningKey) -> None:
    with pytest.raises(CanonicalJSONError):
        sign_record({**RECORD, "amount": 2**60}, issuer)
