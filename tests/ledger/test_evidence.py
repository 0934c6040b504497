"""Fork evidence checks offline with the log's key alone, and never cries wolf."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pel.ledger.errors import EvidenceError, ProofError
from pel.ledger.federation.evidence import ForkEvidence, fork_between, verify_fork
from pel.ledger.merkle.proof import prefix_proof, prefix_root
from tests.ledger.test_witness import ORIGIN, FakeLog


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300))
def test_prefix_root_is_the_prefix_root(a: int, extra: int) -> None:
    log = FakeLog()
    log.grow(a + extra)
    b = a + extra
    path = prefix_proof(a, b, log.tree)
    assert prefix_root(a, b, log.tree.root(b), path) == log.tree.root(a)
    with pytest.raises(ProofError):
        prefix_root(a, b, log.tree.root(b), [*path[:-1], bytes(32)])


def test_same_size_fork() -> None:
    honest = FakeLog()
    fork = FakeLog(honest.signer.key, salt=b"x")
    honest.grow(9)
    fork.grow(9)
    ev = ForkEvidence.from_json(fork_between(ORIGIN, honest.note(), fork.note()).to_json())
    assert verify_fork(ev, honest.signer.verifier) == "two different roots for tree size 9"


def test_different_size_fork_with_prefix_proof() -> None:
    honest = FakeLog()
    fork = FakeLog(honest.signer.key, salt=b"x")
    honest.grow(8)
    fork.grow(20)
    ev = fork_between(ORIGIN, honest.note(), fork.note(), prefix_proof(8, 20, fork.tree))
    assert "another root for its first 8" in verify_fork(ev, honest.signer.verifier)
    # Without the proof, or with the log's ordinary proof, nothing is shown.
    for proof in ([], fork.tree.consistency_proof(8, 20)):
        with pytest.raises(EvidenceError):
            verify_fork(
                fork_between(ORIGIN, honest.note(), fork.note(), proof), honest.signer.verifier
            )


def test_consistent_checkpoints_are_no_evidence() -> None:
    log = FakeLog()
    log.grow(8)
    first = log.note()
    log.grow(5)
    with pytest.raises(EvidenceError, match="consistent"):
        verify_fork(
            fork_between(ORIGIN, first, log.note(), prefix_proof(8, 13, log.tree)),
            log.signer.verifier,
        )
    with pytest.raises(EvidenceError, match="agree"):
        verify_fork(fork_between(ORIGIN, first, first), log.signer.verifier)


def test_checkpoints_must_be_the_logs() -> None:
    honest, other = FakeLog(), FakeLog(salt=b"y")
    honest.grow(4)
    other.grow(4)
    with pytest.raises(EvidenceError, match="not the log's"):
        verify_fork(fork_between(ORIGIN, honest.note(), other.note()), honest.signer.verifier)
    for bad in ("{}", "not json", '{"format": "pel-fork-evidence/v1"}'):
        with pytest.raises(EvidenceError):
            ForkEvidence.from_json(bad)
