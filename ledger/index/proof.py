"""Index proofs: that a log's index, at the checkpoint of a given size, maps a PWID to
exactly this list of log indexes (or to nothing), as compute-then-verify functions.

On the wire (JSON, inside a bundle or the lookup answer)::

    {"size": N,                       the checkpoint's tree size
     "indexes": [i1, i2, …],          every index of the PWID's records below N, ascending
     "siblings": [b64 | null, …],     the siblings on the key's path, root first
                                      (null: an empty subtree)
     "other": {"key": b64, "value": b64}}   only when the path ends at another key's leaf

An empty ``indexes`` with no ``other`` proves that the path ends in an empty subtree;
with ``other``, that it ends at a leaf of another key that shares the path's prefix.
Either way the PWID has no record in the log below N.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pel.ledger.errors import ProofError, RootMismatchError
from pel.ledger.index.hashing import (
    EMPTY,
    HASH_SIZE,
    KEY_BITS,
    bit,
    hash_leaf,
    hash_node,
    key_of,
    value_hash,
)
from pel.ledger.index.tree import Lookup


@dataclass(frozen=True, slots=True)
class IndexProof:
    """A proof of a PWID's list of log indexes below ``size``."""

    size: int
    indexes: tuple[int, ...]
    siblings: tuple[bytes | None, ...]
    other: tuple[bytes, bytes] | None = None

    @classmethod
    def from_lookup(cls, size: int, indexes: Sequence[int], lookup: Lookup) -> IndexProof:
        return cls(size, tuple(indexes), lookup.siblings, lookup.other)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "size": self.size,
            "indexes": list(self.indexes),
            "siblings": [None if s is None else _b64(s) for s in self.siblings],
        }
        if self.other is not None:
            d["other"] = {"key": _b64(self.other[0]), "value": _b64(self.other[1])}
        return d

    @classmethod
    def from_json(cls, d: Any) -> IndexProof:
        """Parse strictly: integers are integers, every hash is exactly 32 bytes.

        Raises:
            ProofError: anything malformed.
        """
        if not isinstance(d, dict) or not {"size", "indexes", "siblings"} <= d.keys():
            raise ProofError("index proof needs size, indexes and siblings")
        unknown = set(d) - {"size", "indexes", "siblings", "other"}
        if unknown:
            raise ProofError(f"index proof has unknown fields {sorted(unknown)}")
        size, indexes, siblings = d["size"], d["indexes"], d["siblings"]
        if not _is_int(size) or size < 0:
            raise ProofError("index proof size must be a non-negative integer")
        if not isinstance(indexes, list) or not all(_is_int(i) for i in indexes):
            raise ProofError("index proof indexes must be a list of integers")
        if not isinstance(siblings, list) or len(siblings) > KEY_BITS:
            raise ProofError(f"index proof siblings must be a list of at most {KEY_BITS}")
        sibs = tuple(None if s is None else _unb64(s, "sibling") for s in siblings)
        other = None
        if "other" in d:
            o = d["other"]
            if not isinstance(o, dict) or set(o) != {"key", "value"}:
                raise ProofError("index proof other must hold key and value")
            other = (_unb64(o["key"], "other key"), _unb64(o["value"], "other value"))
        return cls(size, tuple(indexes), sibs, other)


def root_from_index_proof(proof: IndexProof, pwid: str) -> bytes:
    """The index root that ``proof`` implies for ``pwid``.

    Raises:
        ProofError: the list is not ascending below the size, or the proof cannot be
            about this PWID (another leaf off its path, or the same key, or a list with
            another leaf).
    """
    key = key_of(pwid)
    previous = -1
    for i in proof.indexes:
        if not previous < i < proof.size:
            raise ProofError(
                f"index list must ascend below size {proof.size}: got {i} after {previous}"
            )
        previous = i
    depth = len(proof.siblings)
    if proof.indexes:
        if proof.other is not None:
            raise ProofError("an index proof with a list cannot end at another key's leaf")
        node = hash_leaf(key, value_hash(proof.indexes))
    elif proof.other is not None:
        other_key, other_value = proof.other
        if other_key == key:
            raise ProofError("the other leaf of an absence proof is the PWID's own")
        if any(bit(other_key, d) != bit(key, d) for d in range(depth)):
            raise ProofError(f"the other leaf is not on the PWID's path at depth {depth}")
        node = hash_leaf(other_key, other_value)
    else:
        node = EMPTY
    for d in range(depth - 1, -1, -1):
        sibling = proof.siblings[d]
        sib = EMPTY if sibling is None else sibling
        node = hash_node(sib, node) if bit(key, d) else hash_node(node, sib)
    return node


def verify_index_proof(proof: IndexProof, pwid: str, root: bytes) -> None:
    """Check that ``proof`` shows ``pwid``'s complete list under index root ``root``.

    Raises:
        ProofError: malformed proof.
        RootMismatchError: the proof leads to another root (carries both).
    """
    if len(root) != HASH_SIZE:
        raise ProofError(f"index root is {len(root)} bytes, not {HASH_SIZE}")
    calculated = root_from_index_proof(proof, pwid)
    if calculated != root:
        raise RootMismatchError(
            f"index proof for size {proof.size}", expected=root, calculated=calculated
        )


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: Any, what: str) -> bytes:
    if not isinstance(s, str):
        raise ProofError(f"index proof {what} must be base64 text")
    try:
        raw = base64.b64decode(s, validate=True)
    except ValueError:
        raise ProofError(f"index proof {what} is not base64") from None
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != s:
        raise ProofError(f"index proof {what} is not a canonical {HASH_SIZE}-byte hash")
    return raw
