"""The verifiable index's tree and proofs: incremental updates agree with a tree built
from scratch, every key's list is proven, absence is proven, and any change to a list,
a sibling or the other leaf is refused."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pel.ledger.errors import ProofError, RootMismatchError
from pel.ledger.index import (
    EMPTY,
    IndexProof,
    Node,
    Path,
    extension_line,
    hash_leaf,
    hash_node,
    key_of,
    parse_extension,
    prove,
    root_from_index_proof,
    update,
    value_hash,
    verify_index_proof,
)
from pel.ledger.index.hashing import bit


class DictNodes:
    """The latest nodes of one tree, in a dict."""

    def __init__(self) -> None:
        self.nodes: dict[Path, Node] = {}
        self.reads = 0

    def read_nodes(self, paths: Sequence[Path]) -> Mapping[Path, Node]:
        self.reads += 1
        return {p: self.nodes[p] for p in paths if p in self.nodes}


def reference_root(lists: dict[str, list[int]]) -> bytes:
    """The root computed from the definition, recursively over all keys at once."""
    leaves = sorted((key_of(p), value_hash(v)) for p, v in lists.items() if v)

    def sub(items: list[tuple[bytes, bytes]], depth: int) -> bytes:
        if not items:
            return EMPTY
        if len(items) == 1:
            return hash_leaf(*items[0])
        lo = [it for it in items if not bit(it[0], depth)]
        hi = [it for it in items if bit(it[0], depth)]
        return hash_node(sub(lo, depth + 1), sub(hi, depth + 1))

    return sub(leaves, 0)


def apply(store: DictNodes, appended: dict[str, list[int]]) -> bytes:
    result = update(store, {key_of(p): v for p, v in appended.items()})
    store.nodes.update(result.nodes)
    return result.root


def build(batches: list[dict[str, list[int]]]) -> tuple[DictNodes, dict[str, list[int]], bytes]:
    store, lists, root = DictNodes(), {}, EMPTY
    for batch in batches:
        root = apply(store, batch)
        for p, v in batch.items():
            lists.setdefault(p, []).extend(v)
    return store, lists, root


def random_batches(seed: int, records: int, pwids: int, batch: int) -> list[dict[str, list[int]]]:
    rng = random.Random(seed)
    out: list[dict[str, list[int]]] = []
    for start in range(0, records, batch):
        b: dict[str, list[int]] = {}
        for i in range(start, min(records, start + batch)):
            b.setdefault(f"PW{rng.randrange(pwids):06d}", []).append(i)
        out.append(b)
    return out


def proof_for(store: DictNodes, lists: dict[str, list[int]], pwid: str, size: int) -> IndexProof:
    return IndexProof.from_lookup(size, lists.get(pwid, []), prove(store, key_of(pwid)))


def test_empty_index_root_and_absence() -> None:
    store = DictNodes()
    assert update(store, {}).root == EMPTY
    proof = proof_for(store, {}, "PW-nobody", 0)
    assert proof.siblings == () and proof.other is None
    verify_index_proof(proof, "PW-nobody", EMPTY)


def test_one_key_is_the_root_leaf() -> None:
    store, lists, root = build([{"PW1": [0, 3]}])
    assert root == hash_leaf(key_of("PW1"), value_hash([0, 3]))
    verify_index_proof(proof_for(store, lists, "PW1", 4), "PW1", root)
    absent = proof_for(store, lists, "PW2", 4)
    assert absent.other == (key_of("PW1"), value_hash([0, 3]))
    verify_index_proof(absent, "PW2", root)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 300), st.integers(1, 80), st.integers(1, 64))
def test_incremental_updates_match_the_definition(
    seed: int, records: int, pwids: int, batch: int
) -> None:
    store, lists, root = build(random_batches(seed, records, pwids, batch))
    assert root == reference_root(lists)
    for pwid in lists:
        verify_index_proof(proof_for(store, lists, pwid, records), pwid, root)
    for n in range(5):
        verify_index_proof(proof_for(store, lists, f"absent{n}", records), f"absent{n}", root)


def test_absence_ends_at_an_empty_subtree_or_another_leaf() -> None:
    store, lists, root = build(random_batches(7, 400, 60, 50))
    kinds = set()
    for n in range(200):
        proof = proof_for(store, lists, f"nobody{n}", 400)
        verify_index_proof(proof, f"nobody{n}", root)
        kinds.add("other" if proof.other else "empty")
    assert kinds == {"other", "empty"}


def test_dropping_or_adding_an_index_is_refused() -> None:
    store, lists, root = build(random_batches(3, 200, 10, 30))
    pwid = max(lists, key=lambda p: len(lists[p]))
    proof = proof_for(store, lists, pwid, 200)
    for drop in range(len(proof.indexes)):
        fewer = IndexProof(200, proof.indexes[:drop] + proof.indexes[drop + 1 :], proof.siblings)
        with pytest.raises(RootMismatchError) as caught:
            verify_index_proof(fewer, pwid, root)
        assert caught.value.expected == root and caught.value.calculated != root
    more = IndexProof(200, (*proof.indexes, 199 if proof.indexes[-1] != 199 else 198), ())
    with pytest.raises(ProofError):
        verify_index_proof(IndexProof(200, more.indexes, proof.siblings), pwid, root)


def test_a_list_cannot_pass_for_absence_nor_for_another_pwid() -> None:
    store, lists, root = build(random_batches(5, 200, 20, 40))
    pwid, other = sorted(lists)[:2]
    proof = proof_for(store, lists, pwid, 200)
    with pytest.raises(RootMismatchError):
        verify_index_proof(IndexProof(200, (), proof.siblings), pwid, root)
    with pytest.raises(RootMismatchError):
        verify_index_proof(proof, other, root)


def test_tampered_siblings_and_other_leaves_are_refused() -> None:
    store, lists, root = build(random_batches(11, 300, 40, 64))
    pwid = sorted(lists)[0]
    proof = proof_for(store, lists, pwid, 300)
    for d in range(len(proof.siblings)):
        sibs = list(proof.siblings)
        sibs[d] = b"\x01" * 32 if sibs[d] != b"\x01" * 32 else None
        with pytest.raises(RootMismatchError):
            verify_index_proof(IndexProof(300, proof.indexes, tuple(sibs)), pwid, root)
    with pytest.raises(RootMismatchError):
        verify_index_proof(IndexProof(300, proof.indexes, proof.siblings[:-1]), pwid, root)
    absent = next(
        p for n in range(500) if (p := proof_for(store, lists, f"x{n}", 300)).other is not None
    )
    name = next(f"x{n}" for n in range(500) if proof_for(store, lists, f"x{n}", 300) == absent)
    verify_index_proof(absent, name, root)
    own = IndexProof(300, (), absent.siblings, (key_of(name), absent.other[1]))
    with pytest.raises(ProofError, match="PWID's own"):
        verify_index_proof(own, name, root)
    off_path = bytes([absent.other[0][0] ^ 0x80]) + absent.other[0][1:]
    if absent.siblings:
        with pytest.raises(ProofError, match="not on the PWID's path"):
            verify_index_proof(
                IndexProof(300, (), absent.siblings, (off_path, absent.other[1])), name, root
            )
    wrong_value = IndexProof(300, (), absent.siblings, (absent.other[0], b"\x07" * 32))
    with pytest.raises(RootMismatchError):
        verify_index_proof(wrong_value, name, root)


def test_index_list_must_ascend_below_the_size() -> None:
    for bad in [(3, 3), (4, 2), (5, 9)]:
        with pytest.raises(ProofError, match="ascend"):
            root_from_index_proof(IndexProof(9, bad, ()), "PW1")


def test_proof_json_round_trip_and_strict_parsing() -> None:
    store, lists, root = build(random_batches(2, 100, 30, 25))
    for pwid in [*sorted(lists)[:3], "nobody-1", "nobody-2"]:
        proof = proof_for(store, lists, pwid, 100)
        again = IndexProof.from_json(proof.to_json())
        assert again == proof
        verify_index_proof(again, pwid, root)
    good = proof_for(store, lists, sorted(lists)[0], 100).to_json()
    bad_cases = [
        {**good, "size": True},
        {**good, "size": -1},
        {**good, "indexes": ["1"]},
        {**good, "siblings": ["AAAA"]},
        {**good, "siblings": [""]},
        {**good, "siblings": [None] * 257},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "siblings"},
        {**good, "other": {"key": "AA=="}},
        "not an object",
    ]
    for bad in bad_cases:
        with pytest.raises(ProofError):
            IndexProof.from_json(bad)


def test_updates_read_a_level_at_a_time() -> None:
    store, _, _ = build(random_batches(1, 2000, 500, 2000))
    store.reads = 0
    apply(store, {f"PW{n:06d}": [5000 + n] for n in range(100)})
    assert store.reads <= 2 * 40  # two batched reads per level, never one per key


def test_extension_line_round_trip_and_refusals() -> None:
    root = bytes(range(32))
    line = extension_line(root)
    assert line.startswith("pel-index/v1 ")
    assert parse_extension(["other ext", line]) == root
    assert parse_extension(["something else"]) is None
    for bad in [["pel-index/v1 AAAA"], ["pel-index/v1 !!"], [line, line]]:
        with pytest.raises(ProofError):
            parse_extension(bad)
