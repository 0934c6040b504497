"""The record types: the envelope every log entry shares and the type-specific bodies.

A log entry is one signed record, serialised as RFC 8785 canonical JSON::

    {"v": 1, "type": "contribution", "issuer": "MY-PERKESO", "id": "0193…",
     "issued_at": "2026-11-22T10:00:00Z", "pwid": "MM-7K3Q9X2M4T8V1B5N",
     "body": {…}, "sig": "<base64 Ed25519 over the JCS of the rest>"}

* ``issuer`` is the agency id; ``(issuer, id)`` is the record's idempotency key.
* ``pwid`` is the worker's portable worker id (PWID); names and national ids
  never appear in a record, only a salted commitment in the enrolment.
* ``rules``, ``agreement`` and ``withdrawal`` records are public law, not a worker's:
  they carry no ``pwid`` (see :mod:`pel.ledger.portability`).
* Records are never edited: an ``amendment`` carries the corrected body of the
  record it names, a ``revocation`` withdraws it. ``reason`` is a code, never free
  text, so no personal data can slip into the log through it.

Models are strict (no coercion: ``"1"`` is not ``1``) and refuse unknown fields,
so the validated dict is exactly what was submitted and its signature still holds.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pel.ledger.records.fields import (
    PWID,
    AgencyId,
    Country,
    Currency,
    Date,
    Digest,
    HolderKey,
    Money,
    Period,
    Pseudonym,
    RecordId,
    Timestamp,
)

RECORD_VERSION = 1

Branch = Literal[
    "old_age",
    "invalidity",
    "survivors",
    "employment_injury",
    "sickness",
    "maternity",
    "unemployment",
    "health",
]
Benefit = Literal[
    "old_age_pension",
    "invalidity_pension",
    "survivors_pension",
    "employment_injury",
    "lump_sum_refund",
    "sickness",
    "maternity",
    "unemployment",
    "health_care",
]
EntitlementStatus = Literal["claimed", "granted", "in_payment", "suspended", "ended", "refused"]
Frequency = Literal["one_off", "monthly", "quarterly", "yearly"]
CorrectionReason = Literal[
    "clerical_error",
    "late_filing",
    "duplicate",
    "employer_correction",
    "court_order",
    "fraud",
    "withdrawn_claim",
    "other",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RecordRef(_Strict):
    """Names another record by its idempotency key."""

    issuer: AgencyId
    id: RecordId


class EnrolmentBody(_Strict):
    """The home state issues a PWID and commits to the worker's identity.

    ``commitment`` is base64 SHA-256 over a random salt and the identity
    attributes (``commitment_scheme`` says how); only the worker holds the opening.
    ``holder_key`` (optional) is the worker's own Ed25519 public key (raw, base64):
    with it the worker can ask a node for their proof bundle. When present it is a
    key, never ``null``.
    """

    home_country: Country
    enrolled_on: Date
    commitment_scheme: Literal["sha256-salted-jcs-v1"]
    commitment: Digest
    holder_key: HolderKey | None = None

    @field_validator("holder_key", mode="before")
    @classmethod
    def _given_means_a_key(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("bad_holder_key", "holder_key, when present, is a key")
        return value


class ContributionBody(_Strict):
    """One month of insured work in the host state, by social-security branch."""

    employer: Pseudonym
    period: Period
    insured_earnings: Money
    currency: Currency
    contributions: Annotated[dict[Branch, Money], Field(min_length=1)]


class BasisLog(_Strict):
    """The records of one log a decision rests on: their indexes, and the checkpoint
    (size and base64 root) they were proven under."""

    origin: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    size: Annotated[int, Field(ge=1, le=2**63 - 1)]
    root: Digest
    indexes: Annotated[
        list[Annotated[int, Field(ge=0, le=2**63 - 1)]], Field(min_length=1, max_length=5000)
    ]

    @model_validator(mode="after")
    def _inside_in_order(self) -> BasisLog:
        if any(b <= a for a, b in zip(self.indexes, self.indexes[1:], strict=False)):
            raise PydanticCustomError("bad_basis", "indexes must be increasing")
        if self.indexes[-1] >= self.size:
            raise PydanticCustomError("bad_basis", "an index is outside its checkpoint")
        return self


class DecisionBasis(_Strict):
    """What an entitlement decided by the engine (``ledger.portability``) rests on, so any
    auditor can decide again and compare: the claim (branch and date), every record (the
    worker's, the rules, the agreements) by log, index and checkpoint, and the SHA-256 of
    the whole decision (``pel-decision/v1``) as the issuer made it."""

    format: Literal["pel-decision-basis/v1"]
    branch: Branch
    at: Date
    logs: Annotated[list[BasisLog], Field(min_length=1, max_length=32)]
    decision: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]


class EntitlementBody(_Strict):
    """A benefit the issuer grants (or refuses), and what it rests on (``basis``: the
    decision's inputs, when the engine decided it)."""

    benefit: Benefit
    status: EntitlementStatus
    amount: Money
    currency: Currency
    frequency: Frequency
    start_date: Date
    exportable: StrictBool
    periods: Annotated[list[Period], Field(max_length=1200)] = []
    based_on: Annotated[list[RecordRef], Field(max_length=1000)] = []
    basis: DecisionBasis | None = None

    @field_validator("basis", mode="before")
    @classmethod
    def _given_means_a_basis(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("bad_basis", "basis, when present, is an object")
        return value


class AmendmentBody(_Strict):
    """Corrects an earlier record: ``body`` replaces the target's body whole."""

    target: RecordRef
    target_type: Literal["enrolment", "contribution", "entitlement"]
    reason: CorrectionReason
    body: dict

    @model_validator(mode="after")
    def _body_matches_target_type(self) -> AmendmentBody:
        BODIES[self.target_type].model_validate(self.body, strict=True)
        return self


class RevocationBody(_Strict):
    """Withdraws an earlier record; it stays in the log, marked revoked."""

    target: RecordRef
    reason: CorrectionReason


class RulesBody(BaseModel):
    """A state's scheme rules (``pel-rules/v1``): checked field by field by
    :func:`pel.ledger.portability.rules.check_table`, which names the path of a bad field."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    format: Literal["pel-rules/v1"]
    state: Country


class PartySignature(_Strict):
    issuer: AgencyId
    sig: StrictStr


class LegalText(_Strict):
    title: Annotated[StrictStr, Field(min_length=1, max_length=300)]
    url: Annotated[StrictStr, Field(pattern=r"^https?://\S{3,2000}$")]


class AgreementBody(_Strict):
    """Terms between two to ten member agencies, signed by every one of them
    (see :mod:`pel.ledger.portability.agreements`)."""

    format: Literal["pel-agreement/v1"]
    parties: Annotated[list[AgencyId], Field(min_length=2, max_length=10)]
    branches: Annotated[list[Branch], Field(min_length=1, max_length=8)]
    totalisation: StrictBool
    minimum_period_months: Annotated[int, Field(ge=0, le=600)]
    export: StrictBool
    in_force_from: Date
    until: Date | None
    legal_text: LegalText
    signatures: Annotated[list[PartySignature], Field(max_length=10)]


class WithdrawalBody(_Strict):
    """One party leaves an agreement from ``effective`` on."""

    agreement: RecordRef
    effective: Date


BODIES: dict[str, type[BaseModel]] = {
    "enrolment": EnrolmentBody,
    "contribution": ContributionBody,
    "entitlement": EntitlementBody,
    "amendment": AmendmentBody,
    "revocation": RevocationBody,
    "rules": RulesBody,
    "agreement": AgreementBody,
    "withdrawal": WithdrawalBody,
}
#: Record types that carry no worker: public law.
LAW_TYPES: frozenset[str] = frozenset({"rules", "agreement", "withdrawal"})
RECORD_TYPES: tuple[str, ...] = tuple(BODIES)


class _LawEnvelope(_Strict):
    v: Literal[1]
    issuer: AgencyId
    id: RecordId
    issued_at: Timestamp
    sig: StrictStr | None = None

    @field_validator("v", mode="before")
    @classmethod
    def _version_is_a_number(cls, value: object) -> object:
        # ``true == 1`` in Python, so ``Literal[1]`` alone would take the JSON ``true``.
        if isinstance(value, bool):
            raise ValueError("v must be the number 1")
        return value


class _Envelope(_LawEnvelope):
    pwid: PWID


class EnrolmentRecord(_Envelope):
    type: Literal["enrolment"]
    body: EnrolmentBody


class ContributionRecord(_Envelope):
    type: Literal["contribution"]
    body: ContributionBody


class EntitlementRecord(_Envelope):
    type: Literal["entitlement"]
    body: EntitlementBody


class AmendmentRecord(_Envelope):
    type: Literal["amendment"]
    body: AmendmentBody


class RevocationRecord(_Envelope):
    type: Literal["revocation"]
    body: RevocationBody


class RulesRecord(_LawEnvelope):
    type: Literal["rules"]
    body: RulesBody


class AgreementRecord(_LawEnvelope):
    type: Literal["agreement"]
    body: AgreementBody


class WithdrawalRecord(_LawEnvelope):
    type: Literal["withdrawal"]
    body: WithdrawalBody


Record = Annotated[
    EnrolmentRecord
    | ContributionRecord
    | EntitlementRecord
    | AmendmentRecord
    | RevocationRecord
    | RulesRecord
    | AgreementRecord
    | WithdrawalRecord,
    Field(discriminator="type"),
]

__all__ = [
    "BODIES",
    "LAW_TYPES",
    "RECORD_TYPES",
    "RECORD_VERSION",
    "AgreementBody",
    "AmendmentBody",
    "BasisLog",
    "ContributionBody",
    "DecisionBasis",
    "EnrolmentBody",
    "EntitlementBody",
    "Record",
    "RecordRef",
    "RevocationBody",
    "RulesBody",
    "WithdrawalBody",
]
