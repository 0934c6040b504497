"""Errors of the ledger layer: records, proofs, checkpoints and the log's rules.

::

    LedgerError (crypto.errors.PelError)
    ├── RecordError               code: invalid_record (and narrower codes)   422
    │   ├── RulesError            code: bad_rules (and narrower codes), with the field path
    │   └── AgreementError        code: bad_agreement (missing_party_signature …)
    ├── FormulaError              code: bad_formula                           422
    ├── ConflictError             code: conflict                              409
    ├── NotFoundError             code: not_found                             404
    ├── ProofError                code: bad_proof                             400
    │   └── RootMismatchError     code: root_mismatch (carries both roots)    400
    ├── CheckpointError           code: bad_checkpoint                        400
    ├── TileError                 code: bad_tile                              400
    ├── IntegrityError            code: integrity_failure                     500
    │   ├── MismatchError         code: integrity_failure, with the evidence  500
    │   ├── IndexTreeError        code: integrity_failure (index nodes; index.check) 500
    │   └── DamagedLogError       code: per damage (entry_column_mismatch …)  503
    ├── TrustListError            code: bad_trust_list, bad_quorum            400
    ├── QuorumError               code: no_quorum                             422
    ├── AuditStateError           code: bad_audit_state                       400
    ├── WitnessError              code: per tlog-witness (403, 404, 409, 422); 503 when
    │                             its stored state is not to be trusted
    ├── EvidenceError             code: bad_evidence                          400
    ├── BundleError               code: per failure (not_canonical, no_quorum …) 422
    └── MirrorError               code: mirror_refused (and narrower codes)   422
"""

from __future__ import annotations

import base64
from typing import Any

from pel.crypto.errors import PelError


class LedgerError(PelError):
    """Base of every ledger-layer error."""

    code = "ledger_error"


class RecordError(LedgerError):
    """A record or record draft breaks the schema or the log's rules.

    ``field`` names the offending field (dotted path) when there is one.
    """

    code = "invalid_record"
    http_status = 422

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message, code=code)
        self.field = field

    def to_dict(self) -> dict[str, str]:
        d = super().to_dict()
        if self.field:
            d["field"] = self.field
        return d


class RulesError(RecordError):
    """A scheme-rules table breaks the ``pel-rules/v1`` format; ``field`` is the dotted
    path of the offending field (``branches.old_age.parameters.pension_age.values[0]``)."""

    code = "bad_rules"


class AgreementError(RecordError):
    """An agreement is malformed, not signed by every party, or not this node's to take."""

    code = "bad_agreement"


class FormulaError(LedgerError):
    """A benefit formula uses an unknown operation or variable, or cannot be evaluated."""

    code = "bad_formula"
    http_status = 422

    def __init__(self, message: str, *, code: str | None = None, path: str = "") -> None:
        super().__init__(message, code=code)
        self.path = path


class ConflictError(LedgerError):
    """A different record already holds the same ``(issuer, id)``."""

    code = "conflict"
    http_status = 409


class NotFoundError(LedgerError):
    """The asked-for entry, tile, checkpoint or proof does not exist (yet)."""

    code = "not_found"
    http_status = 404


class ProofError(LedgerError):
    """A Merkle proof is malformed or does not verify."""

    code = "bad_proof"


class RootMismatchError(ProofError):
    """A proof led to a root other than the expected one."""

    code = "root_mismatch"

    def __init__(self, message: str, *, expected: bytes, calculated: bytes):
        super().__init__(
            f"{message}: expected root {base64.b64encode(expected).decode()}, "
            f"calculated {base64.b64encode(calculated).decode()}"
        )
        self.expected = expected
        self.calculated = calculated


class CheckpointError(LedgerError):
    """A checkpoint is malformed, wrongly signed, or inconsistent with another."""

    code = "bad_checkpoint"


class TileError(LedgerError):
    """A tile or entry-bundle path or body does not follow C2SP tlog-tiles."""

    code = "bad_tile"


class IntegrityError(LedgerError):
    """Stored data does not reproduce what the log has published."""

    code = "integrity_failure"
    http_status = 500


class DamagedLogError(IntegrityError):
    """The stored log is damaged in a way the node can name: a column that is not its
    entry's, a row that is not a signed record of this log, counters that disagree
    with the entries, a damaged index. The node refuses to start (or to take more
    records) rather than answer from it. Codes: ``entry_column_mismatch``,
    ``entry_not_record``, ``entry_foreign_issuer``, ``entry_bad_signature``,
    ``entry_bad_target``, ``log_state_mismatch``, ``index_damaged``,
    ``database_damaged``, ``tile_file_damaged``, ``cosignature_damaged``,
    ``log_halted``."""

    code = "log_damaged"
    http_status = 503


class BatchError(LedgerError):
    """Some records of a batch were refused, so none of the batch was appended.

    ``problems`` lists ``(position, error)`` for every refused record, so a client
    can drop those and resubmit the rest. The status is 409 when every problem is
    an ``(issuer, id)`` conflict, else 422.
    """

    code = "batch_refused"

    def __init__(self, problems: list[tuple[int, LedgerError]]):
        first_pos, first = problems[0]
        super().__init__(
            f"{len(problems)} record(s) refused, nothing appended; first, at position "
            f"{first_pos}: {first.message}"
        )
        self.problems = problems
        every_conflict = all(isinstance(e, ConflictError) for _, e in problems)
        self.http_status = 409 if every_conflict else 422
        if every_conflict:
            self.code = "conflict"

    def to_dict(self) -> dict:  # type: ignore[override]
        d: dict = super().to_dict()
        d["records"] = [{"position": pos, **err.to_dict()} for pos, err in self.problems]
        return d


class TrustListError(LedgerError):
    """A federation trust-list version is malformed, wrongly signed or out of chain."""

    code = "bad_trust_list"


class QuorumError(LedgerError):
    """A checkpoint does not carry the trust list's witness quorum."""

    code = "no_quorum"
    http_status = 422


class WitnessError(LedgerError):
    """A checkpoint submitted to the witness is refused (C2SP tlog-witness statuses).

    ``latest_size`` is set on a 409 conflict: the size the witness last cosigned.
    """

    code = "witness_refused"

    def __init__(
        self, message: str, *, code: str, http_status: int, latest_size: int | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status
        self.latest_size = latest_size


class EvidenceError(LedgerError):
    """Evidence of a fork is malformed, wrongly signed, or does not prove a fork."""

    code = "bad_evidence"


class MismatchError(IntegrityError):
    """Served data is not what the log signed; ``evidence`` says exactly where (tile,
    position, entry index, the hash calculated from the data and the one served, or
    the record whose signature or issuer is wrong). The code stays ``integrity_failure``
    unless a narrower one is given."""

    def __init__(self, message: str, *, evidence: dict[str, Any], code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.evidence = evidence


class AuditStateError(LedgerError):
    """An auditor's saved state is malformed or does not reproduce its own checkpoint."""

    code = "bad_audit_state"


class CorrectionError(LedgerError):
    """A correction that cannot apply: ``missing_target`` (its target is not among the
    records) or ``target_mismatch`` (the target does not precede it in its log, or is of
    another type than the amendment says)."""

    code = "bad_correction"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class BundleError(LedgerError):
    """A worker's proof bundle is malformed, altered, or does not prove what it claims.

    The code names the failure (``not_canonical``, ``bad_record_signature``,
    ``no_quorum`` …; the list is in ``ledger.bundle``).
    """

    code = "bad_bundle"
    http_status = 422

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class MirrorError(LedgerError):
    """Data fetched from another member's log is refused by this node's mirror.

    Codes: ``bad_checkpoint`` (not signed by the log's key), ``bad_record``,
    ``foreign_issuer``, ``bad_signature``, ``root_mismatch`` (the entries do not
    reproduce the signed root), ``bad_tiles`` (the log's tiles prove nothing),
    ``fork`` (two signed checkpoints that cannot both be true: evidence recorded),
    ``log_flagged`` (a proven fork was recorded earlier), ``out_of_order``.
    """

    code = "mirror_refused"
    http_status = 422
