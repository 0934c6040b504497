"""An independent, deliberately naive RFC 9162 Merkle Tree Hash, for cross-checking.

It shares no code with pel's Merkle package or its serving path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 §2.1.1 defines it, over raw entries."""
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(entries[:k]) + mth(entries[k:])).digest()
