"""RFC 6962 / RFC 9162 inclusion and consistency proof vectors.

The vectors are the JSON test data of the transparency-dev/merkle repository
(https://github.com/transparency-dev/merkle, ``testdata/``, commit 417fb0c,
Apache-2.0), kept unchanged in ``tests/vectors/rfc6962`` (origin and licence in
``tests/vectors/README.md``). Each file is one case, and ``wantErr`` says whether a
verifier must reject it. They are part of the repository, so a missing directory is
a failure, never a skip.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

import pytest

from pel.ledger.errors import ProofError
from pel.ledger.merkle.hashing import HASH_SIZE, hash_leaf
from pel.ledger.merkle.memory import DictHashReader
from pel.ledger.merkle.proof import (
    root_from_consistency_proof,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from tests.treehash import mth

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
RFC6962 = VECTORS / "rfc6962"

MIN_CASES_PER_KIND = 90
"""There are 98 of each at commit 417fb0c; far fewer means the data went missing."""

RFC6962_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
"""The eight leaves of RFC 6962's reference tree, which the happy-path vectors use."""

DEVIATIONS = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": (
        "its roots are the 12-byte placeholder 'don't care 2'; the Go verifier only "
        "compares equal-size roots, but ours refuses every hash that is not 32 bytes"
    ),
}
"""Vectors whose verdict we deliberately do not share, each with the reason.

Each is still checked: it must be refused for the stated reason, and the same case
with well-formed hashes must get the vector's verdict."""


def _require_vectors() -> None:
    if RFC6962.is_dir():
        return
    pytest.fail(f"RFC 6962 proof vectors missing from the repository at {RFC6962}")


def _files(kind: str) -> list[Path]:
    if not RFC6962.is_dir():
        return []
    return sorted((RFC6962 / kind).glob("**/*.json"))


def _params(kind: str) -> list[Any]:
    files = _files(kind)
    if not files:
        # One placeholder case, so that a missing directory fails with a message
        # rather than vanishing as an empty parameter set.
        return [pytest.param(None, id=f"{kind}-vectors-missing")]
    return [pytest.param(f, id=f.relative_to(RFC6962).as_posix()) for f in files]


def _load(path: Path | None) -> tuple[str, dict[str, Any]]:
    _require_vectors()
    assert path is not None
    return path.relative_to(RFC6962).as_posix(), json.loads(path.read_text())


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _hashes(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


def test_vectors_are_present_and_numerous() -> None:
    _require_vectors()
    inclusion, consistency = _files("inclusion"), _files("consistency")
    assert len(inclusion) >= MIN_CASES_PER_KIND, inclusion
    assert len(consistency) >= MIN_CASES_PER_KIND, consistency
    verdicts = [json.loads(p.read_text())["wantErr"] for p in inclusion + consistency]
    # Both kinds of verdict are exercised, many times over.
    assert verdicts.count(True) >= 100
    assert verdicts.count(False) >= 10
    for rel in DEVIATIONS:
        assert (RFC6962 / rel).is_file(), f"stale deviation entry {rel}"


@pytest.mark.parametrize("path", _params("inclusion"))
def test_inclusion_vector(path: Path | None) -> None:
    rel, case = _load(path)
    assert set(case) >= {"leafIdx", "treeSize", "root", "leafHash", "proof", "wantErr"}
    index, size = case["leafIdx"], case["treeSize"]
    root, leaf_hash = _b64(case["root"]), _b64(case["leafHash"])
    proof = _hashes(case["proof"])
    assert rel not in DEVIATIONS
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaf_hash, proof, root)
    else:
        verify_inclusion(index, size, leaf_hash, proof, root)
        assert root_from_inclusion_proof(index, size, leaf_hash, proof) == root


@pytest.mark.parametrize("path", _params("consistency"))
def test_consistency_vector(path: Path | None) -> None:
    rel, case = _load(path)
    assert set(case) >= {"size1", "size2", "root1", "root2", "proof", "wantErr"}
    size1, size2 = case["size1"], case["size2"]
    root1, root2 = _b64(case["root1"]), _b64(case["root2"])
    proof = _hashes(case["proof"])
    if rel in DEVIATIONS:
        assert not case["wantErr"], "a deviation only ever makes us stricter"
        assert HASH_SIZE not in {len(root1), len(root2)}
        with pytest.raises(ProofError, match=f"{HASH_SIZE}-byte hash"):
            verify_consistency(size1, size2, root1, root2, proof)
        # The rule the vector is about (equal sizes, equal roots, empty proof) holds.
        good = hash_leaf(root1)
        verify_consistency(size1, size2, good, good, proof)
        return
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, root1, root2, proof)
    else:
        verify_consistency(size1, size2, root1, root2, proof)
        if size1 > 0:
            assert root_from_consistency_proof(size1, size2, root1, proof) == root2


def _happy_paths(kind: str) -> list[Any]:
    files = [p for p in _files(kind) if p.name == "happy-path.json"]
    return [pytest.param(p, id=p.relative_to(RFC6962).as_posix()) for p in files] or [
        pytest.param(None, id=f"{kind}-vectors-missing")
    ]


@pytest.fixture(scope="module")
def reference_tree() -> DictHashReader:
    tree = DictHashReader()
    tree.extend(hash_leaf(e) for e in RFC6962_LEAVES)
    return tree


@pytest.mark.parametrize("path", _happy_paths("inclusion"))
def test_we_generate_the_happy_path_inclusion_proofs(
    path: Path | None, reference_tree: DictHashReader
) -> None:
    _, case = _load(path)
    index, size = case["leafIdx"], case["treeSize"]
    assert size <= len(RFC6962_LEAVES)
    assert _b64(case["root"]) == reference_tree.root(size) == mth(RFC6962_LEAVES[:size])
    assert _b64(case["leafHash"]) == hash_leaf(RFC6962_LEAVES[index])
    assert reference_tree.inclusion_proof(index, size) == _hashes(case["proof"])


@pytest.mark.parametrize("path", _happy_paths("consistency"))
def test_we_generate_the_happy_path_consistency_proofs(
    path: Path | None, reference_tree: DictHashReader
) -> None:
    _, case = _load(path)
    size1, size2 = case["size1"], case["size2"]
    assert 0 < size1 <= size2 <= len(RFC6962_LEAVES)
    assert _b64(case["root1"]) == reference_tree.root(size1) == mth(RFC6962_LEAVES[:size1])
    assert _b64(case["root2"]) == reference_tree.root(size2) == mth(RFC6962_LEAVES[:size2])
    assert reference_tree.consistency_proof(size1, size2) == _hashes(case["proof"])


def test_vector_hashes_are_base64() -> None:
    """A sanity check of the decoding itself: it refuses what is not base64."""
    assert _b64("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=") == hash_leaf(b"")
    with pytest.raises(binascii.Error):
        _b64("not base64!")
