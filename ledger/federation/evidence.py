"""Fork evidence: two signed checkpoints of one log that cannot both be true.

Anyone holding the log's key (from the trust list) can check it offline:

* same tree size, different root hashes: a fork, plainly;
* sizes a < b: the evidence carries a prefix proof (``ledger.merkle.proof.prefix_proof``)
  that leads to the size-b root; the size-a root it shows differs from the signed
  size-a root. Forging such a path would need a SHA-256 collision.

Evidence a witness records when a log's own consistency proof fails is kept too,
but marked unproven: a bad proof alone does not show that no good one exists.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from pel.crypto.note import NoteVerifier
from pel.ledger.errors import CheckpointError, EvidenceError, ProofError
from pel.ledger.merkle.proof import prefix_root
from pel.ledger.tlog.checkpoint import Checkpoint, open_checkpoint

FORMAT = "pel-fork-evidence/v1"


@dataclass(frozen=True)
class ForkEvidence:
    """Two signed checkpoint notes of ``origin`` and, for different sizes, a prefix proof."""

    origin: str
    first: bytes
    second: bytes
    proof: tuple[bytes, ...] = ()

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "format": FORMAT,
                    "origin": self.origin,
                    "first": self.first.decode(),
                    "second": self.second.decode(),
                    "proof": [base64.b64encode(h).decode() for h in self.proof],
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ForkEvidence:
        try:
            d = json.loads(text)
            if not isinstance(d, dict) or d.get("format") != FORMAT:
                raise EvidenceError(f"not {FORMAT} evidence")
            proof = tuple(base64.b64decode(h, validate=True) for h in d.get("proof", []))
            return cls(str(d["origin"]), d["first"].encode(), d["second"].encode(), proof)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise EvidenceError(f"malformed evidence: {exc}") from None


def verify_fork(evidence: ForkEvidence, log_key: NoteVerifier) -> str:
    """Check that the evidence proves a fork of the log with ``log_key``; say how.

    Raises:
        EvidenceError: a checkpoint is not the log's, or the two are consistent, or
            the proof does not show the contrary.
    """
    if log_key.name != evidence.origin:
        raise EvidenceError(f"the key given is for {log_key.name!r}, not {evidence.origin!r}")
    try:
        a = open_checkpoint(evidence.first, log_key).checkpoint
        b = open_checkpoint(evidence.second, log_key).checkpoint
    except CheckpointError as exc:
        raise EvidenceError(f"a checkpoint is not the log's: {exc.message}") from None
    if a.size > b.size:
        a, b = b, a
    if a.size == b.size:
        if a.root == b.root:
            raise EvidenceError("the two checkpoints agree: no fork")
        return f"two different roots for tree size {a.size}"
    if a.size == 0:
        raise EvidenceError("a checkpoint of the empty tree cannot disagree with anything")
    try:
        held = prefix_root(a.size, b.size, b.root, evidence.proof)
    except ProofError as exc:
        raise EvidenceError(f"the proof does not show the fork: {exc.message}") from None
    if held == a.root:
        raise EvidenceError("the two checkpoints are consistent: no fork")
    return (
        f"the tree of size {b.size} holds another root for its first {a.size} "
        f"entries than the signed checkpoint of size {a.size}"
    )


def fork_between(
    origin: str, first: bytes, second: bytes, proof: Sequence[bytes] = ()
) -> ForkEvidence:
    """Evidence from two notes (and a prefix proof when the sizes differ)."""
    return ForkEvidence(origin, first, second, tuple(proof))


def checkpoint_of(note: bytes) -> Checkpoint:
    """The checkpoint body of a note, unverified (for display)."""
    return Checkpoint.parse(note.split(b"\n\n", 1)[0] + b"\n")
