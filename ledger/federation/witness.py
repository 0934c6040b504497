"""C2SP tlog-witness: cosign a log's checkpoint only if it extends what was cosigned before.

For each log it witnesses, the node keeps the latest checkpoint it cosigned. A
request (``old <size>``, a consistency proof, a blank line, a signed checkpoint)
is accepted when the checkpoint carries the log's signature, the old size is the
one on record, and the proof shows the new tree extends the recorded one. The
check and the update are one compare-and-swap in the database, committed before
the cosignature is returned, so two racing requests can never both move the
state and no two inconsistent checkpoints are ever cosigned.

A valid checkpoint that contradicts the recorded one (same size with another
root, or a consistency proof that fails) is kept as evidence.

A node also keeps a copy of the state outside the database (a :class:`StateCopy`,
written before the cosignature is returned), since a row rolled back to an older
checkpoint, or deleted, would let the witness cosign a fork of what it cosigned, and
an older row is as well signed as the newest. A row behind the copy (the database
rolled back, or a commit lost after the copy was written) gives way to the copy; a row
ahead of it, or disagreeing at its size, or a row the copy lacks, is refused
(``witness_state_mismatch``, 503) until the node's start-up check has looked at it.

The answer holds one cosignature line per key of the witness: cosignature/v1
(Ed25519) and, when the witness has one, ML-DSA-44 (C2SP tlog-cosignature).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from pel.crypto.cosignature import CosignatureSigner, MLDSACosignatureSigner
from pel.crypto.errors import NoteFormatError
from pel.crypto.note import NoteVerifier, parse_note
from pel.ledger.errors import CheckpointError, ProofError, WitnessError
from pel.ledger.federation.evidence import ForkEvidence, fork_between
from pel.ledger.merkle.hashing import HASH_SIZE
from pel.ledger.merkle.proof import verify_consistency
from pel.ledger.storage.models import EvidenceRow, WitnessStateRow
from pel.ledger.tlog.checkpoint import Checkpoint, open_checkpoint

STATE = WitnessStateRow.__table__  # type: ignore[attr-defined]
EVIDENCE = EvidenceRow.__table__  # type: ignore[attr-defined]
MAX_PROOF_LINES = 63
_OLD = re.compile(rb"old (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request."""

    old_size: int
    proof: list[bytes]
    note: bytes


def parse_request(body: bytes) -> AddCheckpoint:
    """Parse ``old N``, proof lines, a blank line, then the checkpoint note (400 if bad)."""
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise _bad("the request needs an old size line, proof lines and a blank line")
    if not note.strip():
        raise _bad("the request holds no checkpoint after the blank line")
    lines = head.split(b"\n")
    m = _OLD.fullmatch(lines[0])
    if m is None:
        raise _bad("the first line must be 'old <size>' in canonical decimal")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise _bad(f"at most {MAX_PROOF_LINES} consistency proof lines are allowed")
    proof = []
    for line in lines[1:]:
        try:
            h = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("a consistency proof line is not base64") from None
        if len(h) != HASH_SIZE:
            raise _bad(f"a consistency proof hash must be {HASH_SIZE} bytes")
        proof.append(h)
    return AddCheckpoint(int(m.group(1)), proof, note)


def _bad(message: str) -> WitnessError:
    return WitnessError(message, code="bad_request", http_status=400)


class StateCopy(Protocol):
    """The witness's state kept outside the database: each log's latest cosigned note."""

    def held(self, origin: str) -> bytes | None:
        """The note last cosigned for ``origin``; None if none."""
        ...

    def hold(self, origin: str, note: bytes) -> None:
        """Keep ``note`` as ``origin``'s, durably, before returning.

        Raises:
            OSError: it could not be kept.
        """
        ...


State = tuple[int, bytes, bytes]
"""``(size, root, note)`` of the checkpoint last cosigned for a log."""


def _mismatch(origin: str, why: str) -> WitnessError:
    return WitnessError(
        f"the witness's stored state of {origin!r} {why}",
        code="witness_state_mismatch",
        http_status=503,
    )


def reconcile(origin: str, row: Any, held: bytes | None, *, copied: bool) -> State | None:
    """The state to go by: the database's row (``(size, root, note)`` or None) checked
    against the note it holds, and against the copy (``held``, when ``copied``).

    Raises:
        WitnessError: ``witness_state_mismatch`` (503): the row disagrees with its own
            note, is ahead of the copy or differs from it at its size, or the copy has
            no state for a log the database has one for.
    """
    db: State | None = None
    if row is not None:
        db = (int(row[0]), bytes(row[1]), bytes(row[2]))
        body = _body_of(db[2])
        if (body.origin, body.size, body.root) != (origin, db[0], db[1]):
            raise _mismatch(origin, "disagrees with the checkpoint it holds")
    if not copied:
        return db
    if held is None:
        if db is not None:
            raise _mismatch(origin, "is missing from the copy kept outside the database")
        return None
    copy = _body_of(held)
    if db is None or db[0] < copy.size:
        return copy.size, copy.root, held
    if db[0] != copy.size or db[1] != copy.root:
        raise _mismatch(
            origin, f"is at size {db[0]}, but the copy kept outside the database at {copy.size}"
        )
    return db


class Witness:
    """The witness of the logs in ``logs`` (origin → log key), cosigning as ``signer``
    (Ed25519) and ``pq_signer`` (ML-DSA-44)."""

    def __init__(
        self,
        engine: Engine,
        signer: CosignatureSigner,
        logs: Mapping[str, NoteVerifier],
        pq_signer: MLDSACosignatureSigner | None = None,
        copy: StateCopy | None = None,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.pq_signer = pq_signer
        self.logs = dict(logs)
        self.copy = copy

    def flagged(self, origin: str) -> bool:
        """Whether a proven fork of this log was recorded (then it is cosigned no more)."""
        return origin in flagged_origins(self.engine)

    def evidence(self) -> list[tuple[bool, ForkEvidence]]:
        """Every piece of evidence recorded: ``(proven, evidence)``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(EVIDENCE.c.proven, EVIDENCE.c.data).order_by(EVIDENCE.c.id)
            ).all()
        return [(bool(p), ForkEvidence.from_json(bytes(d))) for p, d in rows]

    def latest(self, origin: str) -> State | None:
        """``(size, root, note)`` last cosigned for ``origin``.

        Raises:
            WitnessError: ``witness_state_mismatch`` (see :func:`reconcile`).
        """
        with self.engine.connect() as conn:
            return self._state(conn, origin)[1]

    def _state(self, conn: Any, origin: str) -> tuple[Any, State | None]:
        """The database's row for ``origin`` and the state to go by (:func:`reconcile`)."""
        row = conn.execute(
            select(STATE.c.size, STATE.c.root, STATE.c.note).where(STATE.c.origin == origin)
        ).first()
        held = self.copy.held(origin) if self.copy is not None else None
        try:
            return row, reconcile(origin, row, held, copied=self.copy is not None)
        except WitnessError as exc:
            raise WitnessError(
                f"{exc.message}; it cosigns nothing until the node is checked (`pel check`)",
                code=exc.code,
                http_status=exc.http_status,
            ) from None

    def add_checkpoint(self, body: bytes, *, now: int) -> bytes:
        """Handle one request; return the cosignature line(s).

        Raises:
            WitnessError: with the tlog-witness status (400, 403, 404, 409, 422).
        """
        req = parse_request(body)
        origin = req.note.split(b"\n", 1)[0].decode("utf-8", "replace")
        log_key = self.logs.get(origin)
        if log_key is None:
            raise WitnessError(
                f"this witness does not witness the log {origin!r}",
                code="unknown_log",
                http_status=404,
            )
        try:
            Checkpoint.parse(parse_note(req.note).text)
        except (NoteFormatError, CheckpointError) as exc:
            raise _bad(f"not a signed checkpoint: {exc.message}") from None
        try:
            checkpoint = open_checkpoint(req.note, log_key).checkpoint
        except CheckpointError as exc:
            raise WitnessError(exc.message, code="bad_signature", http_status=403) from None
        if self.flagged(origin):
            raise WitnessError(
                f"the log {origin!r} equivocated; this witness no longer cosigns it",
                code="log_flagged",
                http_status=403,
            )
        if req.old_size > checkpoint.size:
            raise _bad(f"old size {req.old_size} is larger than the checkpoint's size")
        if req.old_size == 0 and req.proof:
            raise _bad("the consistency proof must be empty when the old size is 0")
        with self.engine.begin() as conn:
            row, state = self._state(conn, origin)
            size = state[0] if state else 0
            if req.old_size != size:
                raise WitnessError(
                    f"old size {req.old_size} is not the latest cosigned size {size}",
                    code="old_size_mismatch",
                    http_status=409,
                    latest_size=size,
                )
            if state is not None:
                self._check_consistent(
                    conn, origin, Checkpoint(origin, size, state[1]), state[2], checkpoint, req
                )
            values = {
                "size": checkpoint.size,
                "root": checkpoint.root,
                "note": req.note,
                "updated_at": dt.datetime.now(dt.UTC),
            }
            if row is None:
                try:
                    conn.execute(insert(STATE).values(origin=origin, **values))
                except DBIntegrityError:
                    raise WitnessError(
                        "another request cosigned this log first",
                        code="old_size_mismatch",
                        http_status=409,
                        latest_size=self._size(origin),
                    ) from None
            else:
                moved = conn.execute(
                    update(STATE)
                    .where(STATE.c.origin == origin, STATE.c.size == int(row[0]))
                    .values(**values)
                ).rowcount
                if moved != 1:
                    raise WitnessError(
                        "another request cosigned this log first",
                        code="old_size_mismatch",
                        http_status=409,
                        latest_size=self._size(origin),
                    )
            if self.copy is not None:  # on disk before the cosignature leaves
                try:
                    self.copy.hold(origin, req.note)
                except OSError as exc:
                    raise WitnessError(
                        f"the witness cannot keep its state outside the database: {exc}",
                        code="witness_state_unsaved",
                        http_status=503,
                    ) from None
        text = checkpoint.body()
        signers = [self.signer] if self.pq_signer is None else [self.signer, self.pq_signer]
        return "".join(s.at(now).cosign(text).line() for s in signers).encode()

    def _size(self, origin: str) -> int:
        latest = self.latest(origin)
        return latest[0] if latest else 0

    def _check_consistent(
        self,
        conn: object,
        origin: str,
        old: Checkpoint,
        old_note: bytes,
        new: Checkpoint,
        req: AddCheckpoint,
    ) -> None:
        try:
            if new.size == old.size:
                if new.root != old.root:
                    raise ProofError("same tree size, different root hash")
                if new.extensions != _body_of(old_note).extensions:
                    # The same tree with another index root (an extension line): the log
                    # would show two indexes at one size. Refused, so that cosigned
                    # checkpoints of one size all commit to one index.
                    raise WitnessError(
                        f"checkpoint at size {new.size} has other extension lines than the "
                        "one cosigned",
                        code="conflicting_extension",
                        http_status=409,
                        latest_size=old.size,
                    )
                return
            verify_consistency(old.size, new.size, old.root, new.root, req.proof)
        except ProofError as exc:
            self._record_evidence(origin, old_note, req, proven=new.size == old.size)
            if new.size == old.size:
                raise WitnessError(
                    f"checkpoint at size {new.size} has another root than the one cosigned",
                    code="conflicting_root",
                    http_status=409,
                    latest_size=old.size,
                ) from None
            raise WitnessError(
                f"consistency proof from {old.size} does not verify: {exc.message}",
                code="bad_consistency_proof",
                http_status=422,
            ) from None

    def _record_evidence(
        self, origin: str, old_note: bytes, req: AddCheckpoint, *, proven: bool
    ) -> None:
        """Keep both signed checkpoints (and the log's proof), in a transaction of its own:
        the request's own transaction is rolled back when it is refused. Only a proven
        fork (same size, two roots) stops this witness cosigning the log."""
        evidence = fork_between(origin, old_note, req.note, req.proof if not proven else ())
        record_evidence(self.engine, evidence, proven=proven)


def _body_of(note: bytes) -> Checkpoint:
    """The checkpoint a stored (already verified) note states."""
    return Checkpoint.parse(parse_note(note).text)


def record_evidence(engine: Engine, evidence: ForkEvidence, *, proven: bool) -> bool:
    """Keep evidence in its own transaction (once: the same case again is not stored twice).

    The witness and the mirror share this table, so a fork either of them proves stops
    both: the witness cosigns the log no more and the mirror takes no more of it.

    Returns:
        Whether it was new.
    """
    data = evidence.to_json().encode()
    with engine.begin() as conn:
        seen = conn.execute(
            select(EVIDENCE.c.id).where(
                EVIDENCE.c.origin == evidence.origin,
                EVIDENCE.c.proven == proven,
                EVIDENCE.c.data == data,
            )
        ).first()
        if seen is not None:
            return False
        conn.execute(
            insert(EVIDENCE).values(
                origin=evidence.origin, proven=proven, data=data, found_at=dt.datetime.now(dt.UTC)
            )
        )
    return True


def stored_witness_state(engine: Engine) -> dict[str, bytes]:
    """Every ``witness_state`` row as it stands: origin → the note last cosigned."""
    return {origin: row[2] for origin, row in stored_rows(engine).items()}


def stored_rows(engine: Engine) -> dict[str, State]:
    """Every ``witness_state`` row as it stands: origin → ``(size, root, note)``."""
    with engine.connect() as conn:
        rows = conn.execute(select(STATE.c.origin, STATE.c.size, STATE.c.root, STATE.c.note))
        return {str(o): (int(s), bytes(r), bytes(n)) for o, s, r, n in rows}


def put_back(engine: Engine, origin: str, note: bytes) -> None:
    """Set ``origin``'s row to the checkpoint ``note`` states (a row rolled back or lost,
    put back from the copy kept outside the database)."""
    cp = _body_of(note)
    values = {"size": cp.size, "root": cp.root, "note": note, "updated_at": dt.datetime.now(dt.UTC)}
    with engine.begin() as conn:
        if conn.execute(update(STATE).where(STATE.c.origin == origin).values(**values)).rowcount:
            return
        conn.execute(insert(STATE).values(origin=origin, **values))


def flagged_origins(engine: Engine) -> set[str]:
    """Origins of the logs with a proven fork on record."""
    with engine.connect() as conn:
        rows = conn.execute(select(EVIDENCE.c.origin).where(EVIDENCE.c.proven).distinct()).all()
    return {str(r[0]) for r in rows}
