"""RFC 9162 roots, inclusion and consistency proofs: generation and verification.

Everything is checked against independent references: ``tests.treehash.mth`` (the
naive MTH of RFC 9162 §2.1.1), pymerkle, and a naive, memoised transcription here
of PATH (§2.1.3.1) and SUBPROOF (§2.1.4.1) that shares no code with the package.
Every size up to ``SMALL`` is covered exhaustively; larger ones by hypothesis.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from pel.ledger.errors import ProofError, RootMismatchError
from pel.ledger.merkle.builder import TreeBuilder
from pel.ledger.merkle.hashing import EMPTY_ROOT, HASH_SIZE, hash_children, hash_leaf
from pel.ledger.merkle.memory import DictHashReader, root_from_leaf_hashes
from pel.ledger.merkle.proof import (
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    subtree_coords,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.treehash import mth

SMALL = 300
"""Every tree size 1..SMALL is checked exhaustively."""
BIG = 5000
"""Hypothesis draws sizes up to this."""

ENTRIES = [b""] + [b"entry %d" % i for i in range(1, 2 * BIG + 2)]
"""Distinct entries (the first empty), so that no two leaves share a hash; twice BIG,
so that the root of a doubled size is at hand."""
LEAVES = [hash_leaf(e) for e in ENTRIES]

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sha(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


@functools.cache
def ref_mth(lo: int, hi: int) -> bytes:
    """MTH(ENTRIES[lo:hi]) by RFC 9162 §2.1.1, memoised over ranges."""
    n = hi - lo
    if n == 0:
        return _sha(b"")
    if n == 1:
        return _sha(b"\x00", ENTRIES[lo])
    k = _ref_split(n)
    return _sha(b"\x01", ref_mth(lo, lo + k), ref_mth(lo + k, hi))


def _ref_split(n: int) -> int:
    k = 1
    while 2 * k < n:
        k *= 2
    return k


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]) of RFC 9162 §2.1.3.1."""
    if hi - lo == 1:
        return []
    k = _ref_split(hi - lo)
    if m < k:
        return [*ref_path(m, lo, lo + k), ref_mth(lo + k, hi)]
    return [*ref_path(m - k, lo + k, hi), ref_mth(lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1."""
    if m == hi - lo:
        return [] if whole else [ref_mth(lo, hi)]
    k = _ref_split(hi - lo)
    if m <= k:
        return [*ref_subproof(m, lo, lo + k, whole), ref_mth(lo + k, hi)]
    return [*ref_subproof(m - k, lo + k, hi, False), ref_mth(lo, lo + k)]


def ref_consistency(first: int, second: int) -> list[bytes]:
    return ref_subproof(first, 0, second, True)


@pytest.fixture(scope="module")
def tree() -> DictHashReader:
    t = DictHashReader()
    t.extend(LEAVES)
    return t


@pytest.fixture(scope="module")
def pymerkle_tree() -> InmemoryTree:
    t = InmemoryTree(algorithm="sha256")
    # The comparison means something only with RFC 9162's domain separation on.
    assert t.security is True
    assert (t.leaf_prefix, t.node_prefix) == (b"\x00", b"\x01")
    t.append_entries(ENTRIES)
    assert t.get_size() == len(ENTRIES)
    return t


def _flip(h: bytes, bit: int = 0) -> bytes:
    b = bytearray(h)
    b[(bit // 8) % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


EXTRA = _sha(b"not in the tree")


def altered_proofs(proof: list[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """Every tampering of ``proof``: a flipped bit in each hash, each hash dropped, a
    hash added at each position, and each pair of different hashes swapped."""
    for i in range(len(proof)):
        yield f"flip bit in hash {i}", [*proof[:i], _flip(proof[i], 7 * i + 3), *proof[i + 1 :]]
        yield f"drop hash {i}", proof[:i] + proof[i + 1 :]
    for i in range(len(proof) + 1):
        yield f"add hash at {i}", [*proof[:i], EXTRA, *proof[i:]]
        if proof:
            yield f"repeat a hash at {i}", [*proof[:i], proof[i - 1], *proof[i:]]
    for i in range(len(proof)):
        for j in range(i + 1, len(proof)):
            if proof[i] != proof[j]:
                swapped = list(proof)
                swapped[i], swapped[j] = swapped[j], swapped[i]
                yield f"swap hashes {i} and {j}", swapped


def _refused(check: Callable[[], object], why: str) -> None:
    with pytest.raises(ProofError):
        check()
        pytest.fail(f"accepted after {why}")


def check_inclusion(tree: DictHashReader, index: int, size: int, *, tamper: bool) -> None:
    """The proof is RFC 9162's, verifies, and (with ``tamper``) every alteration fails."""
    proof = tree.inclusion_proof(index, size)
    assert proof == ref_path(index, 0, size), (index, size)
    assert len(proof) == len(inclusion_ranges(index, size))
    leaf, root = LEAVES[index], ref_mth(0, size)
    verify_inclusion(index, size, leaf, proof, root)
    assert root_from_inclusion_proof(index, size, leaf, proof) == root
    if not tamper:
        return
    for why, bad in altered_proofs(proof):
        _refused(lambda bad=bad: verify_inclusion(index, size, leaf, bad, root), why)
    with pytest.raises(RootMismatchError):
        verify_inclusion(index, size, leaf, proof, _flip(root, index))
    with pytest.raises(RootMismatchError):
        verify_inclusion(index, size, _flip(leaf, size), proof, root)
    for other in {index - 1, index + 1, index ^ 1, 0, size - 1, size, -1} - {index}:
        # The leaf is not at ``other`` (entries are distinct), or ``other`` is out of range.
        _refused(lambda o=other: verify_inclusion(o, size, leaf, proof, root), f"index {other}")
    # Another size, with that size's root. (With this size's root, a proof of the same
    # shape would pass: RFC 9162 binds a root to its size only in the signed checkpoint.)
    for other in {size - 1, size + 1, 2 * size, size // 2, index, 0} - {size}:
        if other > index and proof == ref_path(index, 0, other):
            continue  # then the claim is true of that size as well
        _refused(
            lambda o=other: verify_inclusion(index, o, leaf, proof, ref_mth(0, o)),
            f"size {other}",
        )


def check_consistency(tree: DictHashReader, first: int, second: int, *, tamper: bool) -> None:
    proof = tree.consistency_proof(first, second)
    assert proof == ref_consistency(first, second), (first, second)
    assert len(proof) == (len(consistency_ranges(first, second)) if first != second else 0)
    r1, r2 = ref_mth(0, first), ref_mth(0, second)
    verify_consistency(first, second, r1, r2, proof)
    assert root_from_consistency_proof(first, second, r1, proof) == r2
    if not tamper:
        return
    for why, bad in altered_proofs(proof):
        _refused(lambda bad=bad: verify_consistency(first, second, r1, r2, bad), why)
    _refused(lambda: verify_consistency(first, second, _flip(r1, second), r2, proof), "root1")
    _refused(lambda: verify_consistency(first, second, r1, _flip(r2, first), proof), "root2")
    if first != second:
        _refused(lambda: verify_consistency(first, second, r2, r1, proof), "swapped roots")
    for other in {first - 1, first + 1, 2 * first, first // 2, second + 1, 0} - {first}:
        if 0 < other <= second and proof == ref_consistency(other, second):
            continue  # the claim is then true of that first size as well
        _refused(
            lambda o=other: verify_consistency(o, second, ref_mth(0, o), r2, proof),
            f"first size {other}",
        )
    for other in {second - 1, second + 1, 2 * second, second // 2, 0} - {second}:
        if other >= first and proof == ref_consistency(first, other):
            continue
        _refused(
            lambda o=other: verify_consistency(first, o, r1, ref_mth(0, o), proof),
            f"second size {other}",
        )


# ---- hashing ---------------------------------------------------------------------------


def test_hashes_are_rfc9162_domain_separated() -> None:
    assert HASH_SIZE == 32
    assert _sha(b"") == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert hash_leaf(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    left, right = hash_leaf(b"a"), hash_leaf(b"b")
    assert hash_leaf(b"a") == _sha(b"\x00a")
    assert hash_children(left, right) == _sha(b"\x01", left, right)
    assert hash_children(left, right) != hash_children(right, left)
    # A leaf never collides with the node over the same bytes (second preimages).
    assert hash_leaf(left + right) != hash_children(left, right)


# ---- roots -----------------------------------------------------------------------------


def test_reference_agrees_with_tests_treehash() -> None:
    for n in (0, 1, 2, 3, 5, 8, 13, 64, 257):
        assert ref_mth(0, n) == mth(ENTRIES[:n])


def test_empty_tree() -> None:
    assert DictHashReader().root() == EMPTY_ROOT
    assert tree_hash(0, DictHashReader()) == EMPTY_ROOT
    assert TreeBuilder(0, {}).root() == EMPTY_ROOT
    assert root_from_leaf_hashes([]) == EMPTY_ROOT == mth([])
    with pytest.raises(ProofError):
        tree_hash(-1, DictHashReader())


def test_builder_root_after_every_append_up_to_small() -> None:
    builder = TreeBuilder(0, {})
    reader = DictHashReader()
    for n in range(1, SMALL + 1):
        builder.append([LEAVES[n - 1]])
        reader.append(LEAVES[n - 1])
        want = mth(ENTRIES[:n])
        assert builder.size == reader.size == n
        assert builder.root() == want, n
        assert reader.root() == want, n


@pytest.mark.parametrize("size", range(1, SMALL + 1))
def test_every_proof_of_a_small_tree(
    size: int, tree: DictHashReader, pymerkle_tree: InmemoryTree
) -> None:
    want = mth(ENTRIES[:size])
    assert tree.root(size) == tree_hash(size, tree) == want
    assert root_from_leaf_hashes(LEAVES[:size]) == want
    assert pymerkle_tree.get_root(size) == want
    # Every inclusion and consistency proof: RFC 9162's, and it verifies.
    for index in range(size):
        check_inclusion(tree, index, size, tamper=False)
    for first in range(1, size + 1):
        check_consistency(tree, first, size, tamper=False)
    # Every tampering fails, for the ends, the middle and a power-of-two boundary.
    pow2 = 1 << (size.bit_length() - 1)
    for index in {0, 1, size // 2, pow2 - 1, pow2, size - 2, size - 1}:
        if 0 <= index < size:
            check_inclusion(tree, index, size, tamper=True)
    for first in {1, 2, size // 2, pow2 - 1, pow2, size - 1, size}:
        if 0 < first <= size:
            check_consistency(tree, first, size, tamper=True)


@SETTINGS
@given(size=st.integers(0, BIG), chunks=st.lists(st.integers(1, 700), min_size=1, max_size=5))
def test_roots_of_larger_trees(
    size: int, chunks: list[int], tree: DictHashReader, pymerkle_tree: InmemoryTree
) -> None:
    want = mth(ENTRIES[:size])
    assert tree.root(size) == want
    assert pymerkle_tree.get_root(size) == want
    builder = TreeBuilder(0, {})
    pos, i = 0, 0
    while pos < size:  # in irregular chunks
        step = min(chunks[i % len(chunks)], size - pos)
        builder.append(LEAVES[pos : pos + step])
        pos, i = pos + step, i + 1
    assert builder.size == size
    assert builder.root() == want


@SETTINGS
@given(data=st.data())
def test_inclusion_in_larger_trees(data: st.DataObject, tree: DictHashReader) -> None:
    size = data.draw(st.integers(SMALL + 1, BIG), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    check_inclusion(tree, index, size, tamper=True)


@SETTINGS
@given(data=st.data())
def test_consistency_in_larger_trees(data: st.DataObject, tree: DictHashReader) -> None:
    second = data.draw(st.integers(SMALL + 1, BIG), label="second")
    first = data.draw(st.integers(1, second), label="first")
    check_consistency(tree, first, second, tamper=True)


@SETTINGS
@given(data=st.data())
def test_random_bit_flips_are_caught(data: st.DataObject, tree: DictHashReader) -> None:
    second = data.draw(st.integers(2, BIG), label="second")
    first = data.draw(st.integers(1, second - 1), label="first")
    index = data.draw(st.integers(0, second - 1), label="index")
    incl = tree.inclusion_proof(index, second)
    cons = tree.consistency_proof(first, second)
    r1, r2 = ref_mth(0, first), ref_mth(0, second)
    i = data.draw(st.integers(0, len(cons) - 1), label="consistency hash")
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
    bad = [*cons[:i], _flip(cons[i], bit), *cons[i + 1 :]]
    with pytest.raises(RootMismatchError):
        verify_consistency(first, second, r1, r2, bad)
    if incl:
        j = data.draw(st.integers(0, len(incl) - 1), label="inclusion hash")
        bad = [*incl[:j], _flip(incl[j], bit), *incl[j + 1 :]]
        with pytest.raises(RootMismatchError):
            verify_inclusion(index, second, LEAVES[index], bad, r2)


# ---- edge cases of verification ---------------------------------------------------------


def test_consistency_of_the_empty_tree() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    with pytest.raises(ProofError):
        verify_consistency(0, 0, EMPTY_ROOT, LEAVES[0], [])
    with pytest.raises(ProofError):
        verify_consistency(0, 0, LEAVES[0], LEAVES[0], [])
    # From nothing, nothing is proved: 0 → n is refused whatever the proof.
    for proof in ([], [LEAVES[0]]):
        with pytest.raises(ProofError):
            verify_consistency(0, 1, EMPTY_ROOT, LEAVES[0], proof)
    with pytest.raises(ProofError):
        consistency_proof(0, 1, DictHashReader())


def test_equal_sizes(tree: DictHashReader) -> None:
    for size in (1, 2, 7, 256):
        root = ref_mth(0, size)
        assert tree.consistency_proof(size, size) == []
        verify_consistency(size, size, root, root, [])
        with pytest.raises(RootMismatchError):
            verify_consistency(size, size, root, ref_mth(0, size + 1), [])
        with pytest.raises(ProofError):
            verify_consistency(size, size, root, root, [root])


def test_sizes_out_of_order_are_refused(tree: DictHashReader) -> None:
    r5, r8 = ref_mth(0, 5), ref_mth(0, 8)
    proof = tree.consistency_proof(5, 8)
    verify_consistency(5, 8, r5, r8, proof)
    for first, second, a, b in ((8, 5, r5, r8), (8, 5, r8, r5), (-1, 8, r5, r8), (5, -8, r5, r8)):
        with pytest.raises(ProofError):
            verify_consistency(first, second, a, b, proof)
    with pytest.raises(ProofError):
        verify_consistency(8, 5, r8, r5, [])
    for size in (-1, -5):  # equal, but not sizes at all
        with pytest.raises(ProofError):
            verify_consistency(size, size, r5, r5, [])
    with pytest.raises(ProofError):
        tree.consistency_proof(8, 5)
    with pytest.raises(ProofError):
        consistency_ranges(8, 5)


def test_indices_out_of_range_are_refused(tree: DictHashReader) -> None:
    for index, size in ((0, 0), (5, 5), (6, 5), (-1, 5)):
        with pytest.raises(ProofError):
            tree.inclusion_proof(index, size)
        with pytest.raises(ProofError):
            verify_inclusion(index, size, LEAVES[0], [], ref_mth(0, max(size, 0)))


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_hashes_that_are_not_32_bytes_are_refused(length: int, tree: DictHashReader) -> None:
    bad = b"\x07" * length
    index, size, first = 3, 11, 6
    leaf, root, r1 = LEAVES[index], ref_mth(0, size), ref_mth(0, first)
    incl = tree.inclusion_proof(index, size)
    cons = tree.consistency_proof(first, size)
    verify_inclusion(index, size, leaf, incl, root)
    verify_consistency(first, size, r1, root, cons)
    cases: list[Callable[[], object]] = [
        lambda: verify_inclusion(index, size, bad, incl, root),
        lambda: verify_inclusion(index, size, leaf, incl, bad),
        lambda: verify_inclusion(index, size, leaf, [*incl[:-1], bad], root),
        lambda: verify_consistency(first, size, bad, root, cons),
        lambda: verify_consistency(first, size, r1, bad, cons),
        lambda: verify_consistency(first, size, r1, root, [bad, *cons[1:]]),
        lambda: verify_consistency(size, size, bad, bad, []),
        lambda: verify_consistency(0, 0, bad, bad, []),
        lambda: root_from_inclusion_proof(index, size, bad, incl),
        lambda: root_from_consistency_proof(first, size, bad, cons),
    ]
    for check in cases:
        with pytest.raises(ProofError, match=f"{HASH_SIZE}-byte hash"):
            check()


def test_hashes_must_be_bytes(tree: DictHashReader) -> None:
    root = ref_mth(0, 4)
    proof = tree.inclusion_proof(1, 4)
    with pytest.raises(ProofError):
        verify_inclusion(1, 4, LEAVES[1].hex()[:32], proof, root)  # type: ignore[arg-type]
    with pytest.raises(ProofError):
        verify_inclusion(1, 4, LEAVES[1], [p.hex()[:32] for p in proof], root)  # type: ignore[misc]
    # bytearray is bytes enough.
    verify_inclusion(1, 4, bytearray(LEAVES[1]), [bytearray(p) for p in proof], bytearray(root))


def test_a_reader_missing_hashes_fails_loudly(tree: DictHashReader) -> None:
    small = DictHashReader()
    small.extend(LEAVES[:5])
    with pytest.raises(ProofError):
        small.root(6)
    with pytest.raises(ProofError):
        small.inclusion_proof(0, 6)
    with pytest.raises(ProofError):
        small.consistency_proof(3, 6)


# ---- proof layout -----------------------------------------------------------------------


def test_subtree_coords_examples() -> None:
    assert subtree_coords(0, 0) == []
    assert subtree_coords(0, 1) == [(0, 0)]
    assert subtree_coords(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert subtree_coords(4, 8) == [(2, 1)]
    assert subtree_coords(8, 13) == [(2, 2), (0, 12)]
    assert subtree_coords(256, 300) == [(5, 8), (3, 36), (2, 74)]


@SETTINGS
@given(data=st.data())
def test_subtree_coords_tile_the_range(data: st.DataObject) -> None:
    """Aligned ranges (as in every proof) split into perfect, aligned, descending pieces."""
    level = data.draw(st.integers(0, 20), label="alignment")
    lo = data.draw(st.integers(0, 1000), label="lo") << level
    hi = lo + data.draw(st.integers(1, 1 << level), label="width")
    pos, heights = lo, []
    for lv, n in subtree_coords(lo, hi):
        assert n << lv == pos
        pos += 1 << lv
        heights.append(lv)
    assert pos == hi
    assert heights == sorted(heights, reverse=True)
    assert len(set(heights)) == len(heights)


def test_ranges_examples() -> None:
    # RFC 9162 §2.1.5's example tree of 7 leaves (d0 … d6).
    assert inclusion_ranges(0, 7) == [(1, 2), (2, 4), (4, 7)]
    assert inclusion_ranges(3, 7) == [(2, 3), (0, 2), (4, 7)]
    assert inclusion_ranges(4, 7) == [(5, 6), (6, 7), (0, 4)]
    assert inclusion_ranges(6, 7) == [(4, 6), (0, 4)]
    assert inclusion_ranges(0, 1) == []
    assert consistency_ranges(3, 7) == [(2, 3), (3, 4), (0, 2), (4, 7)]
    assert consistency_ranges(4, 7) == [(4, 7)]
    assert consistency_ranges(6, 7) == [(4, 6), (6, 7), (0, 4)]
    assert consistency_ranges(7, 7) == []


@pytest.mark.parametrize(
    ("generate", "args"),
    [(inclusion_proof, (3, 300)), (consistency_proof, (100, 300)), (tree_hash, (300,))],
)
def test_generation_reads_hashes_in_one_batch(
    generate: Callable[..., object], args: tuple[int, ...], tree: DictHashReader
) -> None:
    calls: list[int] = []

    class Counting:
        def read_hashes(self, coords: list[tuple[int, int]]) -> list[bytes]:
            calls.append(len(coords))
            return tree.read_hashes(coords)

    generate(*args, Counting())
    assert len(calls) == 1
    assert 0 < calls[0] <= 2 * 9  # O(log n) stored hashes
