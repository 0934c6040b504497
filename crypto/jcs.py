"""RFC 8785 (JCS) canonical JSON, through the ``rfc8785`` package, with a fast path.

Records hold only objects with string keys, arrays, strings, booleans, null and
small integers (money is a decimal string, never a float). For such values the
standard library's ``json.dumps`` with sorted keys, no whitespace and no ASCII
escaping writes exactly the RFC 8785 bytes, with two exceptions it cannot see:

* key order: RFC 8785 sorts keys by UTF-16 code units, Python by code points.
  The two orders differ only between a character above U+FFFF (a surrogate
  pair, D800-DBFF first) and one in U+E000..U+FFFF, so keys holding any
  character from U+E000 up are left to ``rfc8785``;
* numbers: integers within ±(2^53 - 1) print the same, floats and bigger
  integers may not, so they are left to ``rfc8785`` too.

Lone surrogates cannot be encoded as UTF-8 and fall back to ``rfc8785``, which
refuses them. Strings are escaped alike by both (only ``"``, ``\\`` and control
characters, with lowercase ``\\u00xx``). The fast path is hand-written because
the pure-Python ``rfc8785`` serialiser costs about ten times as much, and a
node canonicalises every record it appends; a property test checks the two
agree on generated values, tricky strings included.

``canonical_cut`` and ``insert_member`` let a caller add one member to an
object already encoded (a record's ``sig``) without encoding the rest again.
``parse_canonical`` goes the other way: it reads bytes that must already be
canonical, as a mirror or an auditor reads another node's entries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import rfc8785

from pel.crypto.errors import CanonicalJSONError

_MAX_INT = 2**53 - 1
# Keys with a character from here up may sort differently by UTF-16 code units.
_FIRST_UNSAFE_KEY_CHAR = "\ue000"


def _make_dumps() -> Callable[[Any], str]:
    # The C encoder, built once: json.dumps would build it again (and a JSONEncoder)
    # on every call, which costs a third of encoding a record. No cycle markers:
    # ``_plain`` has walked the value first, and JSON input holds no cycles.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
        ).encode
    encode = make(None, None, json.encoder.encode_basestring, None, ":", ",", True, False, False)
    return lambda value: "".join(encode(value, 0))


_dumps = _make_dumps()


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only what the fast path writes exactly as RFC 8785."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int:
            if not -_MAX_INT <= v <= _MAX_INT:
                return False
        elif t is dict:
            for k, x in v.items():
                if type(k) is not str or not (k.isascii() or max(k) < _FIRST_UNSAFE_KEY_CHAR):
                    return False
                if type(x) is not str:
                    stack.append(x)
        elif t is list:
            stack.extend(v)
        else:
            return False
    return True


class _NotPlain(Exception):
    """A number the fast path may not write as RFC 8785 does (raised while parsing)."""


def _no_float(text: str) -> float:
    raise _NotPlain


def _small_int(text: str) -> int:
    value = int(text)
    if not -_MAX_INT <= value <= _MAX_INT:
        raise _NotPlain
    return value


# Parsing ASCII input with these hooks leaves out exactly what ``_plain`` would refuse
# (floats, big integers, keys from U+E000 up), without walking the value again.
_plain_decoder = json.JSONDecoder(
    parse_float=_no_float, parse_int=_small_int, parse_constant=_no_float
)


def parse_canonical(data: bytes) -> Any:
    """The JSON value that ``data`` is the RFC 8785 canonical encoding of.

    Raises:
        CanonicalJSONError: ``data`` is not JSON, or not that value's canonical encoding.
    """
    try:
        text = data.decode("utf-8")
        if data.isascii():
            try:
                value = _plain_decoder.decode(text)
            except _NotPlain:
                value = json.loads(text)
            else:
                if _dumps(value).encode("utf-8") != data:
                    raise CanonicalJSONError("not in RFC 8785 canonical form")
                return value
        else:
            value = json.loads(text)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise CanonicalJSONError(f"not JSON: {exc}") from None
    if canonicalize(value) != data:
        raise CanonicalJSONError("not in RFC 8785 canonical form")
    return value


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 encoding of ``value``.

    Raises:
        CanonicalJSONError: ``value`` holds something JSON cannot carry exactly
            (an integer beyond ±2^53, a non-finite float, a non-string key, a lone
            surrogate, …).
    """
    return _canonical(value)[0]


def _canonical(value: Any) -> tuple[bytes, bool]:
    """:func:`canonicalize`, and whether the fast path wrote it."""
    if _plain(value):
        try:
            return _dumps(value).encode("utf-8"), True
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 name the problem
    try:
        return rfc8785.dumps(value), False
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeError) as exc:
        raise CanonicalJSONError(f"value cannot be written as canonical JSON: {exc}") from None


def _utf16(key: str) -> bytes:
    # Big-endian UTF-16 compares bytewise in the order of its code units (RFC 8785 §3.2.3).
    return key.encode("utf-16-be", "surrogatepass")


def canonical_cut(value: Mapping[str, Any], key: str) -> tuple[bytes, int]:
    """The canonical JSON of object ``value`` without member ``key``, and the offset in
    it where that member belongs: :func:`insert_member` then gives the canonical JSON
    of ``value`` with ``key`` set, without encoding the rest again (a record's signing
    bytes and its signed entry, from one encoding).

    Raises:
        CanonicalJSONError: as :func:`canonicalize`, or a key is not a string.
    """
    rest: Mapping[str, Any] = value
    if type(value) is not dict or key in value:  # a draft has no ``key`` yet: no copy
        rest = {k: v for k, v in value.items() if k != key}
    try:
        ascii_keys = "".join(rest).isascii() and key.isascii()
    except TypeError:
        raise CanonicalJSONError(
            "value cannot be written as canonical JSON: a key is not a string"
        ) from None
    if ascii_keys:
        after = {k: v for k, v in rest.items() if k > key}
    else:
        cut = _utf16(key)
        after = {k: v for k, v in rest.items() if _utf16(k) > cut}
    encoded, fast = _canonical(rest)
    if not after:
        return encoded, len(encoded) - 1
    if len(after) == len(rest):
        return encoded, 1
    # ``encoded`` ends with "," and the members after ``key``: the same bytes as the
    # canonical JSON of those members alone, but for its opening brace. (Members of a
    # value the fast path wrote need no second look.)
    tail = _dumps(after).encode("utf-8") if fast else canonicalize(after)
    return encoded, len(encoded) - len(tail)


def insert_member(encoded: bytes, offset: int, member: bytes) -> bytes:
    """Put ``member`` (``"key":value``, canonical) into canonical object ``encoded`` at
    ``offset``, as found by :func:`canonical_cut`."""
    if offset == 1:
        sep = b"" if encoded == b"{}" else b","
        return b"{" + member + sep + encoded[1:]
    return encoded[:offset] + b"," + member + encoded[offset:]
