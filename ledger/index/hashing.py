"""Hashes of the verifiable index: keys, values, leaves, interior nodes, the empty tree,
and the checkpoint extension line that commits to the root.

The index is a sparse Merkle tree over 256-bit keys in which a subtree holding exactly
one leaf *is* that leaf (its hash does not depend on its depth), an empty subtree is
:data:`EMPTY`, and a subtree holding two or more leaves is an interior node. Each kind
of hash has its own prefix byte, so no value of one kind can pass for another::

    key      = SHA-256("pel/index/pwid/v1" ‖ 0x00 ‖ pwid)           (UTF-8 pwid)
    value    = v_n where v_0 = 32 zero bytes,
               v_k = SHA-256(0x12 ‖ v_{k-1} ‖ uint64be(i_k))         (indexes ascending)
    leaf     = SHA-256(0x10 ‖ key ‖ value)
    node     = SHA-256(0x11 ‖ left ‖ right)
    EMPTY    = 32 zero bytes                                         (no preimage is known)

The value is a hash chain so that a log appending index ``i`` to a key needs only the
key's previous value, not its whole list.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from pel.ledger.errors import ProofError

KEY_BITS = 256
HASH_SIZE = 32
EMPTY = bytes(HASH_SIZE)
"""The hash of an empty subtree, and the root of an empty index."""

INDEX_EXTENSION = "pel-index/v1"
"""The first word of the checkpoint extension line that carries the index root."""

_KEY_PREFIX = b"pel/index/pwid/v1\x00"
_LEAF = b"\x10"
_NODE = b"\x11"
VALUE_PREFIX = b"\x12"
_VALUE = VALUE_PREFIX
_sha256 = hashlib.sha256


def key_of(pwid: str) -> bytes:
    """The index key of a PWID: a domain-separated SHA-256, so that the index and its
    proofs carry no PWID in the clear."""
    return _sha256(_KEY_PREFIX + pwid.encode("utf-8")).digest()


def extend_value(value: bytes, index: int) -> bytes:
    """The value after appending log index ``index`` to a list whose value is ``value``."""
    return _sha256(_VALUE + value + index.to_bytes(8, "big")).digest()


def value_hash(indexes: Iterable[int], start: bytes = EMPTY) -> bytes:
    """The value of an ascending list of log indexes (``start``: the value of the
    list's earlier part, when only the new indexes are given)."""
    value = start
    for index in indexes:
        value = extend_value(value, index)
    return value


def hash_leaf(key: bytes, value: bytes) -> bytes:
    """A key's leaf: SHA-256(0x10 ‖ key ‖ value)."""
    return _sha256(_LEAF + key + value).digest()


def hash_node(left: bytes, right: bytes) -> bytes:
    """An interior node over two subtrees: SHA-256(0x11 ‖ left ‖ right)."""
    return _sha256(_NODE + left + right).digest()


def bit(key: bytes, depth: int) -> int:
    """Bit ``depth`` of ``key``, the most significant bit of the first byte being bit 0:
    0 goes left, 1 goes right."""
    return (key[depth >> 3] >> (7 - (depth & 7))) & 1


def extension_line(root: bytes) -> str:
    """The checkpoint extension line that commits to an index root:
    ``pel-index/v1 <base64 root>``."""
    return f"{INDEX_EXTENSION} {base64.b64encode(root).decode()}"


def parse_extension(extensions: Iterable[str]) -> bytes | None:
    """The index root among a checkpoint's extension lines; None if it has none.

    Raises:
        ProofError: a ``pel-index/v1`` line that is malformed, or more than one.
    """
    found: bytes | None = None
    for line in extensions:
        word, _, rest = line.partition(" ")
        if word != INDEX_EXTENSION:
            continue
        if found is not None:
            raise ProofError("checkpoint carries two index roots")
        try:
            raw = base64.b64decode(rest, validate=True)
        except ValueError:
            raise ProofError("checkpoint index root is not base64") from None
        if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != rest:
            raise ProofError("checkpoint index root is not a canonical 32-byte hash")
        found = raw
    return found
