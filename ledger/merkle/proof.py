"""RFC 9162 tree heads and inclusion/consistency proofs: generation and verification.

Generation reads *stored* hashes through a :class:`HashReader`: the node ``(level, n)``
is the root of the perfect subtree over leaves ``[n·2^level, (n+1)·2^level)``. Every
proof is a list of subtree roots over leaf ranges; each range is split into perfect
subtrees, all of them are read in one batch (O(log n) hashes), and the non-perfect
ones are hashed together here. Nothing recomputes the tree.

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 and raises ``ProofError`` (or
``RootMismatchError``) on any failure; every hash must be exactly 32 bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pel.ledger.errors import ProofError, RootMismatchError
from pel.ledger.merkle.hashing import EMPTY_ROOT, HASH_SIZE, hash_children

Coord = tuple[int, int]
"""``(level, n)``: the perfect subtree of height ``level`` and index ``n``."""


class HashReader(Protocol):
    """Reads stored perfect-subtree hashes."""

    def read_hashes(self, coords: Sequence[Coord]) -> list[bytes]:
        """The hash of each ``(level, n)``, in order; raise if any is not stored."""
        ...


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_coords(lo: int, hi: int) -> list[Coord]:
    """The perfect subtrees, left to right, whose roots make MTH(D[lo:hi]).

    ``lo`` must be a multiple of the largest power of two ≤ ``hi - lo`` (true of
    every range in an RFC 9162 proof), so each piece is a stored subtree.
    """
    out: list[Coord] = []
    while lo < hi:
        size = 1 << ((hi - lo).bit_length() - 1)
        while lo % size:
            size >>= 1
        level = size.bit_length() - 1
        out.append((level, lo >> level))
        lo += size
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the perfect-subtree roots of a range (largest first) into its MTH."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hash_children(h, acc)
    return acc


def _range_hashes(ranges: Sequence[tuple[int, int]], reader: HashReader) -> list[bytes]:
    """MTH of each range, reading every stored hash the ranges need in one batch."""
    pieces = [subtree_coords(lo, hi) for lo, hi in ranges]
    flat = [c for p in pieces for c in p]
    got = reader.read_hashes(flat) if flat else []
    out: list[bytes] = []
    pos = 0
    for p in pieces:
        out.append(fold(got[pos : pos + len(p)]))
        pos += len(p)
    return out


def tree_hash(size: int, reader: HashReader) -> bytes:
    """MTH of the first ``size`` leaves (the root a checkpoint commits to)."""
    if size < 0:
        raise ProofError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], reader)[0]


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form PATH(index, D[0:size]), leaf upwards."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m = lo + k, m - k
    return ranges[::-1]


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form PROOF(first, D[0:second]), RFC 9162 §2.1.4.1."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to {second}")
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        ranges.append((lo, hi))
    return ranges[::-1]


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size``."""
    return _range_hashes(inclusion_ranges(index, size), reader)


def consistency_proof(first: int, second: int, reader: HashReader) -> list[bytes]:
    """The RFC 9162 consistency proof from tree size ``first`` to ``second``."""
    return _range_hashes(consistency_ranges(first, second), reader)


# ---- verification ----------------------------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        n = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte hash, got {n}")


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` implies for ``leaf_hash`` at ``index`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    _check_hash(leaf_hash, "leaf hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
    want = len(inclusion_ranges(index, size))
    if len(proof) != want:
        raise ProofError(
            f"inclusion proof has {len(proof)} hashes; index {index} in a tree "
            f"of size {size} needs {want}"
        )
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    Raises:
        ProofError: the proof is malformed; RootMismatchError: it leads elsewhere.
    """
    _check_hash(root, "root hash")
    got = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if got != root:
        raise RootMismatchError(
            "inclusion proof does not lead to the root", expected=bytes(root), calculated=got
        )


def _consistency_walk(first: int, second: int, path: Sequence[bytes]) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 3-7 over ``path`` (the first root prepended when ``first``
    is a power of two): the first and second roots the path implies."""
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    return fr, sr


def prefix_proof(first: int, second: int, reader: HashReader) -> list[bytes]:
    """A consistency proof that also carries the first tree's root when ``first`` is a
    power of two, so that it shows which size-``first`` root the second tree holds
    without being told (see :func:`prefix_root`)."""
    proof = consistency_proof(first, second, reader)
    if first & (first - 1) == 0 and first < second:
        proof.insert(0, reader.read_hashes([(first.bit_length() - 1, 0)])[0])
    return proof


def prefix_root(first: int, second: int, second_root: bytes, path: Sequence[bytes]) -> bytes:
    """The root of the first ``first`` leaves of the tree with ``second_root``, as a
    :func:`prefix_proof` shows it. A signed checkpoint of size ``first`` with any other
    root proves that the log forked (finding another path needs a SHA-256 collision).

    Raises:
        ProofError: the path does not lead to ``second_root``.
    """
    _check_hash(second_root, "second root")
    for i, p in enumerate(path):
        _check_hash(p, f"proof hash {i}")
    if not 0 < first < second:
        raise ProofError(f"no prefix proof from size {first} to {second}")
    want = len(consistency_ranges(first, second)) + (first & (first - 1) == 0)
    if len(path) != want:
        raise ProofError(f"prefix proof has {len(path)} hashes; {want} are needed")
    fr, sr = _consistency_walk(first, second, path)
    if sr != second_root:
        raise RootMismatchError(
            "prefix proof does not lead to the second root",
            expected=bytes(second_root),
            calculated=sr,
        )
    return fr


def root_from_consistency_proof(
    first: int, second: int, first_root: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root of size ``second`` that ``proof`` implies, after checking it against
    ``first_root`` (RFC 9162 §2.1.4.2)."""
    _check_hash(first_root, "first root")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to {second}")
    if first == second:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        return bytes(first_root)
    want = len(consistency_ranges(first, second))
    if len(proof) != want:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes; sizes {first} to {second} need {want}"
        )
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, bytes(first_root))
    fr, sr = _consistency_walk(first, second, path)
    if fr != first_root:
        raise RootMismatchError(
            "consistency proof does not lead to the first root",
            expected=bytes(first_root),
            calculated=fr,
        )
    return sr


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``second``/``second_root`` extends ``first``/``first_root``.

    Equal sizes need equal roots and an empty proof; size 0 is accepted only as
    ``0 → 0`` with both roots the empty tree's (a proof from nothing proves nothing).

    Raises:
        ProofError: malformed or inconsistent; RootMismatchError: a root differs.
    """
    _check_hash(first_root, "first root")
    _check_hash(second_root, "second root")
    if first == second == 0:
        if proof or first_root != EMPTY_ROOT or second_root != EMPTY_ROOT:
            raise ProofError("the empty tree is consistent only with itself, with no proof")
        return
    got = root_from_consistency_proof(first, second, first_root, proof)
    if got != second_root:
        raise RootMismatchError(
            "consistency proof does not lead to the second root",
            expected=bytes(second_root),
            calculated=got,
        )
