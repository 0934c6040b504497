"""RFC 8785 (JCS) canonical JSON, through the ``rfc8785`` package."""

from __future__ import annotations

from typing import Any

import rfc8785

from crypto.errors import CanonicalJSONError


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 encoding of ``value``.

    Raises:
        CanonicalJSONError: ``value`` holds something JSON cannot carry exactly
            (an integer beyond ±2^53, a non-finite float, a non-string key, …).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalJSONError(f"value cannot be written as canonical JSON: {exc}") from None
