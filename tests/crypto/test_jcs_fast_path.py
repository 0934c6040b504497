"""The JCS fast path writes exactly what the ``rfc8785`` package writes, a member
spliced into an encoded object gives exactly the object's canonical JSON, and bytes are
read as canonical exactly when ``rfc8785`` would write them so."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pel.crypto.errors import CanonicalJSONError
from pel.crypto.jcs import _plain, canonical_cut, canonicalize, insert_member, parse_canonical
from pel.crypto.record import read_entry, record_signing_bytes

# Characters where JSON encoders tend to differ: escapes, DEL, line separators, lone
# surrogates, both sides of U+E000 and of U+FFFF (the UTF-16 ordering boundary).
TRICKY = [
    "\x00", "\x08", "\x1f", "\x7f", '"', "\\", "/", "\u2028", "\u2029", "\ud800", "\udbff",
    "\udc00", "\udfff", "\ud7ff", "\ue000", "\uf8ff", "\ufb33", "\uffff", "\U00010000",
    "\U0001f600", "\U0010ffff", "é", "€", "ไ", "s", "z",
]  # fmt: skip
chars = st.characters(exclude_categories=()) | st.sampled_from(TRICKY)
texts = st.text(chars, max_size=6) | st.sampled_from(["si", "sig", "sih", "sig\U0001f600"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.sampled_from([2**53, -(2**53), 2**64, 1.5, 0.1, 1e21, -0.0])
    | texts
)
# Keys made mostly of the tricky characters, so that one object often holds keys on
# both sides of the UTF-16 ordering boundary.
keys = texts | st.text(st.sampled_from(TRICKY), min_size=1, max_size=3)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)


bmp_keys = st.text(st.characters(max_codepoint=0xDFFF, exclude_categories=["Cs"]))
plain_scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | texts


def _canonical_or_refused(value: Any) -> bytes | None:
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, UnicodeError, ValueError, TypeError):
        return None


@settings(max_examples=600, deadline=None)
@given(values)
def test_fast_path_matches_rfc8785(value: Any) -> None:
    want = _canonical_or_refused(value)
    if want is None:
        with pytest.raises(CanonicalJSONError):
            canonicalize(value)
        return
    assert canonicalize(value) == want


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(bmp_keys, plain_scalars, max_size=8))
def test_keys_below_u_e000_take_the_fast_path(value: dict[str, Any]) -> None:
    assert _plain(value)
    want = _canonical_or_refused(value)
    if want is not None:
        assert canonicalize(value) == want


@pytest.mark.parametrize(
    "value",
    [{"\ue000": 1, "e": 2}, {"\U0001f600": 1, "\uffff": 2}, 1.5, [1e21], 2**53, -(2**53)],
)
def test_slow_path_cases_still_canonical(value: Any) -> None:
    assert not _plain(value)
    want = _canonical_or_refused(value)
    if want is None:
        with pytest.raises(CanonicalJSONError):
            canonicalize(value)
        return
    assert canonicalize(value) == want


def test_non_ascii_bmp_keys_are_fast_and_sorted() -> None:
    value = {"é": 1, "e": 2, "€": 3, "ไ": 4, "\ud7ff": 5}
    assert _plain(value)
    assert canonicalize(value) == rfc8785.dumps(value)


def test_non_ascii_keys_sort_by_utf16_units() -> None:
    # U+1F600 is a surrogate pair (D83D…) in UTF-16 and sorts before U+FFFF there,
    # though after it by code point: the fast path must not decide this case.
    assert canonicalize({"\U0001f600": 1, "\uffff": 2}) == rfc8785.dumps(
        {"\U0001f600": 1, "\uffff": 2}
    )
    assert canonicalize({"\U0001f600": 1, "\uffff": 2}).startswith('{"\U0001f600"'.encode())


@pytest.mark.parametrize("value", ["\ud800", {"a": "\udfff"}, {"\udc00": 1}, ["x\ud83d"]])
def test_lone_surrogates_are_refused(value: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        canonicalize(value)


# ---- one encoding for a record's signing bytes and its entry ---------------------------

members = st.dictionaries(keys, values, max_size=6)
cut_keys = st.sampled_from(["sig", "", "a", "é", *TRICKY]) | texts


@settings(max_examples=400, deadline=None)
@given(members, cut_keys, values)
# A key that sorts one way by code point and the other by UTF-16 code unit.
@example({"\uffff": 1, "a": 2}, "\U0001f600", 0)
@example({"\U0001f600": 1, "sig": 2}, "\ue000", 0)
def test_cut_and_insert_give_the_canonical_json(value: dict[str, Any], key: str, x: Any) -> None:
    without = {k: v for k, v in value.items() if k != key}
    want_without = _canonical_or_refused(without)
    want_with = _canonical_or_refused({**without, key: x})
    try:
        encoded, offset = canonical_cut(value, key)
    except CanonicalJSONError:
        assert want_without is None
        return
    assert encoded == want_without
    member = _canonical_or_refused({key: x})
    if member is not None:
        assert insert_member(encoded, offset, member[1:-1]) == want_with


def test_cut_of_a_record_at_sig() -> None:
    record = {"v": 1, "type": "t", "pwid": "s", "issuer": "i", "id": "x", "body": {"a": [1]}}
    encoded, offset = canonical_cut(record, "sig")
    assert encoded == b'{"body":{"a":[1]},"id":"x","issuer":"i","pwid":"s","type":"t","v":1}'
    assert encoded[:offset] == b'{"body":{"a":[1]},"id":"x","issuer":"i","pwid":"s"'
    signed = insert_member(encoded, offset, b'"sig":"AA=="')
    assert signed == rfc8785.dumps({**record, "sig": "AA=="})


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ({}, b'{"sig":"x"}'),
        ({"sig": "old"}, b'{"sig":"x"}'),
        ({"a": 1}, b'{"a":1,"sig":"x"}'),
        ({"z": 1}, b'{"sig":"x","z":1}'),
        ({"z": 1, "a": {"sig": 2}}, b'{"a":{"sig":2},"sig":"x","z":1}'),
        ({"z": "sig", "b": 2, "a": 1}, b'{"a":1,"b":2,"sig":"x","z":"sig"}'),
    ],
)
def test_insert_member_edges(value: dict[str, Any], want: bytes) -> None:
    assert insert_member(*canonical_cut(value, "sig"), b'"sig":"x"') == want


def test_cut_refuses_non_string_keys() -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_cut({1: "x", "é": 2}, "sig")  # type: ignore[dict-item]
    with pytest.raises(CanonicalJSONError):
        canonical_cut({1: "x"}, "sig")  # type: ignore[dict-item]


# ---- reading bytes that must be canonical ----------------------------------------------


def _spellings(value: Any) -> list[bytes]:
    """``value`` written canonically and in other ways a JSON encoder might write it."""
    out = []
    want = _canonical_or_refused(value)
    if want is not None:
        out.append(want)
    for options in (
        {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False},
        {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": True},
        {"sort_keys": False, "separators": (", ", ": "), "ensure_ascii": False},
    ):
        with contextlib.suppress(ValueError, UnicodeError):
            out.append(json.dumps(value, **options).encode("utf-8"))  # type: ignore[arg-type]
    return out


@settings(max_examples=600, deadline=None)
@given(values)
@example({"a": 1.0})  # "1.0" from json.dumps, "1" canonically
@example([1e21])
@example({"b": 1, "a": 2})
@example({"\U0001f600": 1, "\uffff": 2})
@example({"e": "\u00e9"})
def test_parse_canonical_takes_exactly_the_canonical_bytes(value: Any) -> None:
    for data in _spellings(value):
        try:
            parsed = json.loads(data)
            canonical = _canonical_or_refused(parsed) == data
        except ValueError:
            canonical = False
        if canonical:
            assert parse_canonical(data) == parsed
        else:
            with pytest.raises(CanonicalJSONError):
                parse_canonical(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b" {}",
        b"{} ",
        b'{"a":1,"a":1}',  # a repeated key
        b'{"a":NaN}',
        b'{"a":1e2}',
        b'{"a":100.0}',
        b'{"a":9007199254740993}',  # beyond 2^53
        b'{"a":"\\u00e9"}',  # escaped where RFC 8785 writes the character
        b'{"a":"\xff"}',  # not UTF-8
        b'{"b":1,"a":2}',
    ],
)
def test_parse_canonical_refuses(data: bytes) -> None:
    with pytest.raises(CanonicalJSONError):
        parse_canonical(data)


sigs = st.sampled_from(["AA==", "l4+pN1Yur52rlQ/=", "", "x"]) | texts


@settings(max_examples=400, deadline=None)
@given(members, sigs, st.sampled_from([None, "nested", "listed"]))
@example({}, "AA==", None)
@example({"a": 1}, "AA==", None)
@example({"z": 1}, "AA==", None)
@example({"a": {"sig": "AA=="}}, "AA==", None)
@example({"z": [{"sig": "AA=="}]}, "AA==", None)
def test_read_entry_cuts_the_signing_bytes(record: dict[str, Any], sig: str, copy: Any) -> None:
    """The signing bytes cut from an entry are the record's canonical JSON without
    ``sig``, wherever ``sig`` sorts and whatever else in the record looks like it."""
    record = {**record, "sig": sig}
    if copy == "nested":
        record["a"] = {"sig": sig}
    elif copy == "listed":
        record["zz"] = [{"sig": sig}, sig]
    entry = _canonical_or_refused(record)
    if entry is None:
        return
    parsed, signing = read_entry(entry)
    assert parsed == json.loads(entry)
    assert signing == record_signing_bytes(parsed)


@pytest.mark.parametrize("entry", [b"[]", b'"sig"', b"1", b'{"sig":"AA==", "v":1}', b"{ }"])
def test_read_entry_refuses_what_is_not_a_canonical_record(entry: bytes) -> None:
    with pytest.raises(CanonicalJSONError):
        read_entry(entry)
