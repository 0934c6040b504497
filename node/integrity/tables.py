"""The start-up check of the node's tables beside its log: the tokens, the cosignatures
it serves, the witness's state, the mirrors and the evidence. ``Node.check`` runs it
after the log's own check (``Log.check_integrity``), so ``pel serve`` serves and signs
nothing from them that was not checked against a key or a hash the node holds.

* ``tokens``: every row's MAC under the token key (``node.access.tokens``);
  ``token_mac_mismatch``, ``--repair`` deletes those rows.
* ``cosignatures``: the lines of the latest checkpoint verified against the witness
  keys of every trust list applied (every line with ``--signatures``; the others are
  verified when served), and no line for a size without a checkpoint;
  ``cosignature_invalid``, ``--repair`` deletes those rows.
* ``evidence`` and ``index_evidence``: each piece verified against the log's keys
  (a proven fork must prove one: it stops the witness and the mirror);
  ``evidence_invalid``, ``--repair`` deletes those rows.
* the mirrors: ``ledger.federation.mirror_integrity``; ``mirror_damaged``.
* ``witness_state``: each row signed by its log and agreeing with its note, never
  ahead of the copy kept outside the database (``node.integrity.witness_copy``) and put back
  from it when behind (mended: the copy is what was cosigned last); and never behind
  a checkpoint of the log that the node holds with its own witness's cosignature (its
  mirror checkpoints): ``witness_state_mismatch``, ``witness_state_rolled_back``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, select

from pel.crypto.cosignature import verify_cosignature
from pel.crypto.errors import CryptoError
from pel.crypto.note import NoteVerifier, parse_note
from pel.ledger.errors import CheckpointError, DamagedLogError, LedgerError, WitnessError
from pel.ledger.federation.evidence import ForkEvidence, verify_fork
from pel.ledger.federation.index_evidence import (
    INDEX_EVIDENCE,
    IndexEvidence,
    verify_index_evidence,
)
from pel.ledger.federation.mirror_integrity import check_mirrors
from pel.ledger.federation.witness import EVIDENCE, put_back, reconcile, stored_rows
from pel.ledger.tlog.checkpoint import Checkpoint, open_checkpoint_any
from pel.ledger.tlog.cosignatures import check_stored, drop_rows
from pel.ledger.tlog.log import CheckReport
from pel.node.access.tokens import remove_unbound, unbound_tokens
from pel.node.integrity.witness_copy import FILE as WITNESS_STATE_FILE
from pel.node.trust.chain import KnownKeys

E = TypeVar("E")

if TYPE_CHECKING:
    from pel.node.agency_node import Node


def check_tables(
    node: Node, report: CheckReport, *, full: bool, signatures: bool, repair: bool
) -> None:
    """Check the node's other tables (see the module's docstring) into ``report``.

    Raises:
        DamagedLogError: the first table that fails, with its code.
    """
    keys = node.known_keys()
    _tokens(node, report, repair)
    _cosignatures(node, keys, report, every=signatures, repair=repair)
    _evidence(node, keys, report, repair)
    logs, rehashed = check_mirrors(
        node.engine,
        keys.agencies,
        keys.logs,
        keys.witness.values(),
        own=node.settings.origin,
        full=full,
    )
    if logs:
        report.tables.append(f"{logs} mirrors ({rehashed} entries rehashed)")
    _witness_state(node, keys, report)


def _refuse(code: str, what: str, bad: list[str], remedy: str) -> DamagedLogError:
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    return DamagedLogError(f"{what}: {bad[0]}{more}; {remedy}", code=code)


def _tokens(node: Node, report: CheckReport, repair: bool) -> None:
    bad = unbound_tokens(node.tokens)
    if bad and not repair:
        raise _refuse(
            "token_mac_mismatch",
            "token rows changed without the token key (they grant nothing)",
            [f"token {t}" for t in bad],
            "`pel check --repair` deletes them",
        )
    if bad:
        removed = remove_unbound(node.tokens)
        report.repaired.append(f"tokens whose row was changed deleted ({', '.join(removed)})")


def _cosignatures(
    node: Node, keys: KnownKeys, report: CheckReport, *, every: bool, repair: bool
) -> None:
    with node.engine.connect() as conn:
        verified, bad = check_stored(conn, keys.witness, node.log.tree_size(), every=every)
    if bad and not repair:
        raise _refuse(
            "cosignature_invalid",
            "stored cosignatures that do not verify",
            [f"the line of {w[:60]!r} at size {s} {why}" for s, w, why in bad],
            "`pel check --repair` deletes them",
        )
    if bad:
        with node.engine.begin() as conn:
            drop_rows(conn, bad)
        report.repaired.append(f"{len(bad)} cosignature lines that do not verify deleted")
    if verified:
        report.tables.append(f"{verified} cosignatures verified")


def _evidence(node: Node, keys: KnownKeys, report: CheckReport, repair: bool) -> None:
    """Each piece of fork or index evidence against the log's keys."""
    bad: list[tuple[Any, int, str]] = []
    with node.engine.connect() as conn:
        forks = conn.execute(
            select(EVIDENCE.c.id, EVIDENCE.c.origin, EVIDENCE.c.proven, EVIDENCE.c.data)
        ).all()
        wrong_index = conn.execute(
            select(
                INDEX_EVIDENCE.c.id,
                INDEX_EVIDENCE.c.origin,
                INDEX_EVIDENCE.c.proven,
                INDEX_EVIDENCE.c.data,
            )
        ).all()
    for table, rows, check in ((EVIDENCE, forks, _fork), (INDEX_EVIDENCE, wrong_index, _index)):
        for row_id, origin, proven, data in rows:
            why = check(bytes(data), str(origin), bool(proven), keys.logs.get(str(origin), []))
            if why is not None:
                bad.append((table, int(row_id), f"{table.name} row {row_id} ({origin}): {why}"))
    if bad and not repair:
        raise _refuse(
            "evidence_invalid",
            "stored evidence that does not verify",
            [why for _, _, why in bad],
            "`pel check --repair` deletes it",
        )
    if bad:
        with node.engine.begin() as conn:
            for table, row_id, _ in bad:
                conn.execute(delete(table).where(table.c.id == row_id))
        report.repaired.append(f"{len(bad)} pieces of evidence that do not verify deleted")
    if forks or wrong_index:
        report.tables.append(f"{len(forks) + len(wrong_index)} pieces of evidence verified")


def _fork(data: bytes, origin: str, proven: bool, log_keys: list[NoteVerifier]) -> str | None:
    """Why a row of ``evidence`` is not what it claims; None if it is. Unproven
    evidence (a consistency proof that failed) need only hold two checkpoints of the log."""
    try:
        evidence = ForkEvidence.from_json(data)
        if evidence.origin != origin:
            return f"it is evidence about {evidence.origin!r}"
        if not proven:
            for note in (evidence.first, evidence.second):
                open_checkpoint_any(note, log_keys)
            return None
        return _verified_by_any(verify_fork, evidence, log_keys)
    except LedgerError as exc:
        return exc.message


def _index(data: bytes, origin: str, proven: bool, log_keys: list[NoteVerifier]) -> str | None:
    """Why a row of ``index_evidence`` is not what it claims (unproven: the signed
    checkpoint whose index root a mirror did not reproduce); None if it is."""
    try:
        if not proven:
            open_checkpoint_any(data, log_keys)
            return None
        evidence = IndexEvidence.from_json(data)
        if evidence.origin != origin:
            return f"it is evidence about {evidence.origin!r}"
        return _verified_by_any(verify_index_evidence, evidence, log_keys)
    except LedgerError as exc:
        return exc.message


def _verified_by_any(
    verify: Callable[[E, NoteVerifier], object], evidence: E, log_keys: list[NoteVerifier]
) -> str | None:
    """None if one of the log's keys (a rotated log has several) verifies ``evidence``;
    else why the last one did not."""
    problem = "no key of the log is known"
    for key in log_keys:
        try:
            verify(evidence, key)
            return None
        except LedgerError as exc:
            problem = exc.message
    return problem


def _witness_state(node: Node, keys: KnownKeys, report: CheckReport) -> None:
    """``witness_state`` against the checkpoints it holds, the copy outside the
    database, and the node's mirror checkpoints its witness cosigned."""
    rows = stored_rows(node.engine)
    copy = node.witness_copy.logs()
    if node.witness_copy.created and copy:
        report.repaired.append(
            f"the witness state's copy ({WITNESS_STATE_FILE}) made from the database: it was "
            "missing"
        )
        node.witness_copy.created = False
    mismatch = "witness_state_mismatch"
    for origin in sorted(set(rows) | set(copy)):
        log_keys = keys.logs.get(origin, [])
        row, held = rows.get(origin), copy.get(origin)
        if held is not None:
            _state_checkpoint(origin, "its copy", held, log_keys)
        if row is not None:
            cp = _state_checkpoint(origin, "the database", row[2], log_keys)
            if (cp.size, cp.root) != row[:2]:
                raise DamagedLogError(
                    f"the witness state of {origin} disagrees with the checkpoint it holds",
                    code=mismatch,
                )
        try:
            state = reconcile(origin, row, held, copied=True)
        except WitnessError as exc:
            raise DamagedLogError(
                f"{exc.message}: the database was changed, or the copy ({WITNESS_STATE_FILE}); "
                "if the copy is what is wrong, delete it and it is made again from the database",
                code=mismatch,
            ) from None
        assert state is not None
        if row != state:
            put_back(node.engine, origin, state[2])
            report.repaired.append(
                f"the witness state of {origin} put back from its copy at size {state[0]} "
                f"(the database said {row[0] if row else 'nothing'})"
            )
            rows[origin] = state
    _against_mirrors(node, keys, rows)
    if rows:
        report.tables.append(f"witness state of {len(rows)} logs")


def _state_checkpoint(
    origin: str, where: str, note: bytes, log_keys: list[NoteVerifier]
) -> Checkpoint:
    try:
        return open_checkpoint_any(note, log_keys).checkpoint
    except CheckpointError as exc:
        raise DamagedLogError(
            f"the witness state of {origin} in {where} is not a checkpoint of a member's log: "
            f"{exc.message}",
            code="witness_state_mismatch",
        ) from None


def _against_mirrors(
    node: Node, keys: KnownKeys, rows: dict[str, tuple[int, bytes, bytes]]
) -> None:
    """No log's state is behind a checkpoint of it that carries this witness's own
    cosignature (the mirror checkpoints the node holds, checked by now)."""
    name = node.witness.signer.name
    mine = {k: v for k, v in keys.witness.items() if k[0] == name}
    for signer in (node.witness.signer, node.witness.pq_signer):
        if signer is not None:
            v = signer.verifier
            mine[(v.name, v.key_id)] = v
    for st in node.mirrors.states():
        for note in (st.note, node.mirrors.witnessed(st.origin)):
            cosigned = _cosigned_by(note, mine) if note is not None else None
            if cosigned is None:
                continue
            held = rows.get(st.origin)
            if (
                held is None
                or held[0] < cosigned.size
                or (held[0] == cosigned.size and held[1] != cosigned.root)
            ):
                raise DamagedLogError(
                    f"this witness cosigned {st.origin} at size {cosigned.size} (its mirror "
                    f"holds that checkpoint), but its state says "
                    f"{held[0] if held else 'nothing'}: the state was rolled back",
                    code="witness_state_rolled_back",
                )


def _cosigned_by(note: bytes, mine: dict[tuple[str, bytes], NoteVerifier]) -> Checkpoint | None:
    """The checkpoint of ``note`` if it carries a valid cosignature by one of ``mine``."""
    parsed = parse_note(note)
    for sig in parsed.signatures:
        verifier = mine.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        try:
            verify_cosignature(parsed.text, sig, verifier)
        except CryptoError:
            continue
        return Checkpoint.parse(parsed.text)
    return None
