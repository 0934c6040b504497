"""The auditor's pure checks: saved state, prefix checks between checkpoints, quorums."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pel.crypto.cosignature import CosignatureSigner
from pel.crypto.keys import SigningKey
from pel.crypto.note import NoteSignature, parse_note
from pel.ledger.errors import AuditStateError, ProofError, TrustListError
from pel.ledger.federation.evidence import verify_fork
from pel.ledger.federation.quorum import QuorumRule
from pel.ledger.merkle.proof import prefix_proof
from pel.ledger.tlog.audit_checks import AuditState, Seen, check_cosignatures, check_prefix
from pel.ledger.tlog.checkpoint import SignedCheckpoint, open_checkpoint
from pel.ledger.tlog.rebuild import TileRebuilder
from tests.ledger.test_witness import ORIGIN, FakeLog

T = 1_700_000_000


def opened(log: FakeLog, size: int | None = None) -> SignedCheckpoint:
    return open_checkpoint(log.note(size), log.signer.verifier)


def test_state_round_trip_and_edge_reproduces_the_root() -> None:
    log = FakeLog()
    log.grow(700)
    rebuilt = TileRebuilder()
    rebuilt.add([log.tree.read_hashes([(0, i)])[0] for i in range(700)])
    state = AuditState(ORIGIN, "TH-SSO", log.note(), rebuilt.edge(), (Seen(log.note(5), "u"),))
    again = AuditState.from_json(state.to_json())
    assert again == state and again.size == 700
    signed, builder = again.open(log.signer.verifier)
    assert builder.size == 700 and builder.root() == signed.checkpoint.root
    # A state whose edge does not hash to its checkpoint is refused.
    bad = AuditState(ORIGIN, "TH-SSO", log.note(), {0: bytes(32 * 188), 1: rebuilt.edge()[1]})
    with pytest.raises(AuditStateError, match="does not hash"):
        bad.open(log.signer.verifier)
    # So is another log's state.
    with pytest.raises(AuditStateError, match="is of the log"):
        AuditState("other.org/log", "TH-SSO", log.note(), rebuilt.edge()).open(log.signer.verifier)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(format="x"),
        lambda d: d.update(extra=1),
        lambda d: d["edge"].update({"0": d["edge"]["0"][:-4] + "AAA="}),  # not whole hashes
        lambda d: d["edge"].update({"00": d["edge"].pop("0")}),
        lambda d: d.pop("seen"),
    ],
)
def test_state_parsing_is_strict(change: Callable[[dict[str, Any]], object]) -> None:
    log = FakeLog()
    log.grow(3)
    rebuilt = TileRebuilder()
    rebuilt.add([log.tree.read_hashes([(0, i)])[0] for i in range(3)])
    d = json.loads(AuditState(ORIGIN, "X", log.note(), rebuilt.edge()).to_json())
    change(d)
    with pytest.raises(AuditStateError):
        AuditState.from_json(json.dumps(d))


def test_check_prefix_consistent_forked_and_unproven() -> None:
    honest = FakeLog()
    honest.grow(40)
    for a in (1, 8, 13, 40):
        assert (
            check_prefix(opened(honest, a), opened(honest), prefix_proof(a, 40, honest.tree))
            is None
        )
    fork = FakeLog(honest.signer.key, salt=b"x")
    fork.grow(70)
    ev = check_prefix(opened(honest), opened(fork), prefix_proof(40, 70, fork.tree))
    assert ev is not None and "another root for its first 40" in verify_fork(
        ev, honest.signer.verifier
    )
    same = FakeLog(honest.signer.key, salt=b"y")
    same.grow(40)
    ev = check_prefix(opened(honest), opened(same), [])
    assert ev is not None and verify_fork(ev, honest.signer.verifier).startswith("two different")
    # A proof that does not lead to the larger signed root proves nothing either way.
    with pytest.raises(ProofError):
        check_prefix(opened(honest), opened(fork), prefix_proof(40, 70, honest.tree))


def test_cosignature_quorum() -> None:
    log = FakeLog()
    log.grow(4)
    signers = {
        a: CosignatureSigner(f"{a.lower()}.example/w", SigningKey.generate(), T)
        for a in ("MY", "SG", "ID")
    }
    witnesses = {a: s.verifier for a, s in signers.items()}
    note = log.note()
    text = parse_note(note).text
    good = signers["MY"].cosign(text)
    forged = NoteSignature(signers["SG"].name, signers["SG"].key_id, bytes(72))
    full = note + good.line().encode() + forged.line().encode()

    def rule(k: int) -> QuorumRule:
        return QuorumRule.simple(witnesses, k, policy="either")

    check = check_cosignatures(full, rule(2))
    assert check.verified == ("MY",) and check.timestamps == {"MY": T}
    assert list(check.invalid) == ["SG"]
    assert check.missing == ("ID", "SG") and not check.ok
    assert check_cosignatures(full, rule(1)).ok
    both = full + signers["ID"].cosign(text).line().encode()
    assert check_cosignatures(both, rule(2)).ok
    # A quorum of 0 is no rule at all: it cannot even be stated.
    with pytest.raises(TrustListError, match="at least 1"):
        rule(0)
