"""Evidence that a log committed a wrong index: a third party checks it offline with the
log's key alone.

The evidence holds one signed checkpoint (its tree root and, in the extension line,
its index root), the log's own index proof for one PWID against that index root, and
one entry of the log with its inclusion proof against the tree root. It proves the
index wrong when either

* the entry's record is of that PWID and its index is not in the proven list (the
  index leaves out one of the worker's records), or
* its index is in the proven list and its record is of another PWID (the index lists
  a record that is not the worker's).

Both the list and the entry are bound to the same signed checkpoint, so the log can
dispute neither.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from pel.crypto.note import NoteVerifier
from pel.ledger.errors import CheckpointError, EvidenceError, ProofError
from pel.ledger.index import IndexProof, parse_extension, verify_index_proof
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import verify_inclusion
from pel.ledger.storage.models import IndexEvidenceRow
from pel.ledger.tlog.checkpoint import open_checkpoint

INDEX_EVIDENCE = IndexEvidenceRow.__table__

FORMAT = "pel-index-evidence/v1"


@dataclass(frozen=True)
class IndexEvidence:
    """A log's checkpoint, its index proof for ``pwid``, and entry ``index`` of the log
    (``entry``: the record's canonical JSON) with its inclusion proof."""

    origin: str
    checkpoint: bytes
    pwid: str
    proof: IndexProof
    index: int
    entry: bytes
    inclusion: tuple[bytes, ...]

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "format": FORMAT,
                    "origin": self.origin,
                    "checkpoint": self.checkpoint.decode(),
                    "pwid": self.pwid,
                    "index_proof": self.proof.to_json(),
                    "index": self.index,
                    "entry": base64.b64encode(self.entry).decode(),
                    "inclusion": [base64.b64encode(h).decode() for h in self.inclusion],
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> IndexEvidence:
        try:
            d = json.loads(text)
            if not isinstance(d, dict) or d.get("format") != FORMAT:
                raise EvidenceError(f"not {FORMAT} evidence")
            if type(d["index"]) is not int:
                raise EvidenceError("the evidence's index must be an integer")
            return cls(
                str(d["origin"]),
                d["checkpoint"].encode(),
                str(d["pwid"]),
                IndexProof.from_json(d["index_proof"]),
                d["index"],
                base64.b64decode(d["entry"], validate=True),
                tuple(base64.b64decode(h, validate=True) for h in d["inclusion"]),
            )
        except ProofError as exc:
            raise EvidenceError(f"malformed evidence: {exc.message}") from None
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise EvidenceError(f"malformed evidence: {exc}") from None


def is_index_evidence(text: str | bytes) -> bool:
    """Whether ``text`` claims to be index evidence (rather than fork evidence)."""
    try:
        d: Any = json.loads(text)
    except ValueError:
        return False
    return isinstance(d, dict) and d.get("format") == FORMAT


def verify_index_evidence(evidence: IndexEvidence, log_key: NoteVerifier) -> str:
    """Check that the evidence proves the log's index wrong at its checkpoint; say how.

    Raises:
        EvidenceError: the checkpoint is not the log's or has no index, a proof does not
            verify, or the entry and the list agree.
    """
    if log_key.name != evidence.origin:
        raise EvidenceError(f"the key given is for {log_key.name!r}, not {evidence.origin!r}")
    try:
        cp = open_checkpoint(evidence.checkpoint, log_key).checkpoint
        index_root = parse_extension(cp.extensions)
    except (CheckpointError, ProofError) as exc:
        raise EvidenceError(f"the checkpoint is not the log's: {exc.message}") from None
    if index_root is None:
        raise EvidenceError(f"the checkpoint at size {cp.size} commits to no index")
    proof = evidence.proof
    if proof.size != cp.size:
        raise EvidenceError(f"the index proof is for size {proof.size}, not {cp.size}")
    try:
        verify_index_proof(proof, evidence.pwid, index_root)
    except ProofError as exc:
        raise EvidenceError(f"the index proof does not verify: {exc.message}") from None
    try:
        verify_inclusion(
            evidence.index, cp.size, hash_leaf(evidence.entry), evidence.inclusion, cp.root
        )
    except ProofError as exc:
        raise EvidenceError(f"the entry is not in the log: {exc.message}") from None
    try:
        pwid = json.loads(evidence.entry)["pwid"]
    except (ValueError, KeyError, TypeError):
        raise EvidenceError("the entry is not a record with a pwid") from None
    listed = evidence.index in proof.indexes
    if pwid == evidence.pwid and not listed:
        return (
            f"the index at size {cp.size} leaves out entry {evidence.index}, "
            f"a record of the PWID it was asked for"
        )
    if pwid != evidence.pwid and listed:
        return (
            f"the index at size {cp.size} lists entry {evidence.index} for a PWID "
            f"whose record it is not"
        )
    raise EvidenceError("the entry and the index agree: no wrong index shown")


def record_index_evidence(engine: Engine, origin: str, data: bytes, *, proven: bool) -> bool:
    """Keep evidence of a wrong index (once); whether it was new. ``data`` is the
    evidence's JSON, or, unproven, the signed checkpoint whose root was not reproduced."""
    with engine.begin() as conn:
        seen = conn.execute(
            select(INDEX_EVIDENCE.c.id).where(
                INDEX_EVIDENCE.c.origin == origin, INDEX_EVIDENCE.c.data == data
            )
        ).first()
        if seen is not None:
            return False
        conn.execute(
            insert(INDEX_EVIDENCE).values(
                origin=origin, proven=proven, data=data, found_at=dt.datetime.now(dt.UTC)
            )
        )
    return True


def index_evidence(engine: Engine) -> list[tuple[bool, str, bytes]]:
    """Every wrong-index case recorded: ``(proven, origin, data)``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                INDEX_EVIDENCE.c.proven, INDEX_EVIDENCE.c.origin, INDEX_EVIDENCE.c.data
            ).order_by(INDEX_EVIDENCE.c.id)
        ).all()
    return [(bool(p), str(o), bytes(d)) for p, o, d in rows]
