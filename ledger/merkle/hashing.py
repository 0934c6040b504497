"""RFC 9162 §2.1.1 hashes: leaves and interior nodes are domain-separated SHA-256."""

from __future__ import annotations

import hashlib

HASH_SIZE = 32
"""Every hash on the wire and in storage is exactly this many bytes."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root hash of the empty tree, MTH({})."""

_sha256 = hashlib.sha256


def hash_leaf(entry: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 ‖ d)."""
    return _sha256(b"\x00" + entry).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


def hash_pairs(row: bytes) -> bytes:
    """The interior nodes over each consecutive pair of a packed row of hashes, packed
    (a trailing odd hash is left out): one tree level at a time without a list of
    hashes, the fast path when a whole tile's inner nodes are computed."""
    pair = 2 * HASH_SIZE
    return b"".join(
        [_sha256(b"\x01" + row[i : i + pair]).digest() for i in range(0, len(row) - pair + 1, pair)]
    )
