"""RFC 8785 (JCS) canonical JSON, through the ``rfc8785`` package, with a fast path.

Records hold only objects with ASCII keys, arrays, strings, booleans, null and
small integers (money is a decimal string, never a float). For such values the
standard library's ``json.dumps`` with sorted keys, no whitespace and no ASCII
escaping writes exactly the RFC 8785 bytes: key order by UTF-16 code units is
plain order for ASCII keys, integers within ±2^53 print the same, and both
escape only ``"``, ``\\`` and control characters, with lowercase ``\\u00xx``.
It is about ten times faster than the pure-Python ``rfc8785`` serialiser, so it
is used for such values; anything else (floats, non-ASCII keys, big integers)
goes to ``rfc8785``. A property test checks the two agree.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from crypto.errors import CanonicalJSONError

_MAX_INT = 2**53 - 1
_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode


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
                if type(k) is not str or not k.isascii():
                    return False
                if type(x) is not str:
                    stack.append(x)
        elif t is list:
            stack.extend(v)
        else:
            return False
    return True


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 encoding of ``value``.

    Raises:
        CanonicalJSONError: ``value`` holds something JSON cannot carry exactly
            (an integer beyond ±2^53, a non-finite float, a non-string key, a lone
            surrogate, …).
    """
    if _plain(value):
        try:
            return _dumps(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 name the problem
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeError) as exc:
        raise CanonicalJSONError(f"value cannot be written as canonical JSON: {exc}") from None
