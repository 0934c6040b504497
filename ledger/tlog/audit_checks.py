"""The auditor's pure checks: saved audit state, checkpoints against checkpoints, and
witness cosignature quorums.

Everything here takes bytes and returns objects (or raises): the driver that
downloads and saves is ``node/audit.py``. An auditor that holds only its state file,
two signed notes and a prefix proof can redo any of these checks offline.

The state an auditor keeps between audits of one log (``AuditState``, JSON)::

    {"format": "pel-audit-state/v1",
     "origin": "sso.go.th/pel",
     "issuer": "TH-SSO",                  the agency whose records the log holds
     "checkpoint": "<signed note>",       the last audited checkpoint
     "edge": {"0": "<base64>", …},        its tree's partial tiles (the right edge)
     "seen": [{"note": "<signed note>", "source": "<URL>"}, …]}

The right edge (at most 255 hashes per level) rebuilds the audited root, so the next
audit appends only the entries added since and never downloads the old ones again.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from pel.crypto.note import NoteVerifier
from pel.ledger.errors import AuditStateError, CheckpointError, TileError
from pel.ledger.federation.evidence import ForkEvidence, checkpoint_of
from pel.ledger.federation.quorum import QuorumResult, QuorumRule
from pel.ledger.merkle.builder import TreeBuilder
from pel.ledger.merkle.proof import prefix_root
from pel.ledger.tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint

STATE_FORMAT = "pel-audit-state/v1"


@dataclass(frozen=True)
class Seen:
    """A signed checkpoint the auditor saw, and where."""

    note: bytes
    source: str

    @property
    def checkpoint(self) -> Checkpoint:
        return checkpoint_of(self.note)


@dataclass(frozen=True)
class AuditState:
    """What one audit leaves for the next (see the module docstring for the JSON)."""

    origin: str
    issuer: str
    checkpoint: bytes
    edge: dict[int, bytes]
    seen: tuple[Seen, ...] = ()

    @property
    def size(self) -> int:
        return checkpoint_of(self.checkpoint).size

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "format": STATE_FORMAT,
                    "origin": self.origin,
                    "issuer": self.issuer,
                    "checkpoint": self.checkpoint.decode(),
                    "edge": {str(k): base64.b64encode(v).decode() for k, v in self.edge.items()},
                    "seen": [{"note": s.note.decode(), "source": s.source} for s in self.seen],
                },
                indent=1,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> AuditState:
        """Parse strictly: the format tag, every field, canonical base64, whole hashes."""
        try:
            d = json.loads(text)
            if not isinstance(d, dict) or d.get("format") != STATE_FORMAT:
                raise AuditStateError(f"not {STATE_FORMAT} state")
            if set(d) != {"format", "origin", "issuer", "checkpoint", "edge", "seen"}:
                raise AuditStateError("audit state has missing or unknown fields")
            edge: dict[int, bytes] = {}
            for k, v in d["edge"].items():
                raw = base64.b64decode(v, validate=True)
                if base64.b64encode(raw).decode() != v or len(raw) % 32 or str(int(k)) != k:
                    raise AuditStateError(f"audit state edge level {k!r} is not canonical")
                edge[int(k)] = raw
            seen = tuple(Seen(s["note"].encode(), str(s["source"])) for s in d["seen"])
            return cls(str(d["origin"]), str(d["issuer"]), d["checkpoint"].encode(), edge, seen)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise AuditStateError(f"malformed audit state: {exc}") from None

    def open(self, log_key: NoteVerifier) -> tuple[SignedCheckpoint, TreeBuilder]:
        """The saved checkpoint, verified, and a builder at its size that reproduces its root.

        Raises:
            AuditStateError: another log's state, a bad note, or an edge that does not
                hash to the saved root.
        """
        if self.origin != log_key.name:
            raise AuditStateError(f"the state is of the log {self.origin!r}, not {log_key.name!r}")
        try:
            signed = open_checkpoint(self.checkpoint, log_key)
            builder = TreeBuilder(signed.checkpoint.size, self.edge)
        except (CheckpointError, TileError) as exc:
            raise AuditStateError(f"audit state: {exc.message}") from None
        if builder.root() != signed.checkpoint.root:
            raise AuditStateError("the saved right edge does not hash to the saved checkpoint")
        return signed, builder


def check_prefix(
    smaller: SignedCheckpoint, larger: SignedCheckpoint, proof: Sequence[bytes]
) -> ForkEvidence | None:
    """Does the tree of ``larger`` hold ``smaller`` as its prefix? ``None`` if so, else the
    fork evidence. ``proof`` is a ``prefix_proof`` from the smaller size to the larger
    (empty for equal sizes), from anywhere: it is checked against the larger root.

    Raises:
        ProofError: the proof does not lead to the larger root (it proves nothing).
    """
    a, b = smaller.checkpoint, larger.checkpoint
    if a.origin != b.origin:
        raise CheckpointError(f"checkpoints of two logs: {a.origin!r} and {b.origin!r}")
    if a.size > b.size:
        raise CheckpointError(f"size {a.size} is not a prefix of size {b.size}")
    if a.size == b.size:
        same = a.root == b.root
        return None if same else ForkEvidence(a.origin, smaller.note, larger.note)
    if a.size == 0:
        return None
    held = prefix_root(a.size, b.size, b.root, proof)
    if held == a.root:
        return None
    return ForkEvidence(a.origin, smaller.note, larger.note, tuple(proof))


def check_cosignatures(note: bytes, rule: QuorumRule) -> QuorumResult:
    """Check every witness's cosignature lines (Ed25519 and ML-DSA-44) on a checkpoint
    note against the quorum rule (:mod:`pel.ledger.federation.quorum`).

    Args:
        note: The checkpoint as served, with its signature lines.
        rule: The witnesses (the trust list's other members), quorum and policy.
    """
    return rule.check_note(note)
