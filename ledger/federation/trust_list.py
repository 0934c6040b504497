"""The federation's trust list: who the members are, their keys, and the witness quorum.

There is no central authority: the list is a versioned document that the members
sign themselves, the way TUF rotates root metadata. Version N+1 counts only when
a threshold of version N's members signed it with the keys version N lists, and
a threshold of its own members signed it too (so a new member or a new key shows
it holds its key). Every version names the digest of the one before, so a node
configured with the genesis digest can follow the whole chain, and key rotation
or a change of membership is an ordinary new version.

Members sign with their issuer key (the agency's identity), over
``pel-federation/v1\\n`` followed by the RFC 8785 form of the document.

Each member's witness has two cosigning keys, Ed25519 (cosignature/v1) and
ML-DSA-44; ``cosigner_policy`` says whether a witness counts towards the quorum
only when both cosigned (``both``, the default) or with either (``either``); see
:mod:`pel.ledger.federation.quorum`. A rotated key is not dropped: it moves to the
member's ``retired_keys`` with the time it stopped being valid, so what it signed
before still verifies and nothing it signs after does.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pel.crypto.errors import CryptoError
from pel.crypto.jcs import canonicalize
from pel.crypto.keys import PublicKey, SigningKey
from pel.crypto.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    ALG_MLDSA44_COSIGNATURE,
    NoteVerifier,
    parse_vkey,
)
from pel.ledger.errors import RecordError, TrustListError
from pel.ledger.federation.quorum import Policy, QuorumRule, Witness, WitnessKey, check_rule
from pel.ledger.records.fields import check_agency, check_time

SIGNING_CONTEXT = b"pel-federation/v1\n"
Role = Literal["sending", "receiving", "both"]
KeyRole = Literal["issuer", "log", "witness", "witness_mldsa"]


def posix_time(value: str) -> int:
    """An RFC 3339 time as POSIX seconds."""
    return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


RetiredIssuerKeys = tuple[tuple[bytes, int | None, int], ...]
"""Retired issuer keys as plain values for worker processes: (raw key, valid from or
None, valid until), times in POSIX seconds."""


def retired_key_verdict(
    retired: RetiredIssuerKeys, issued_at: object, signature: bytes, message: bytes
) -> tuple[str, str] | None:
    """After the current issuer key refused a record's signature: None when a retired key
    valid at ``issued_at`` made it; ``(code, why)`` otherwise (``retired_key`` when a
    retired key made it outside its period)."""
    for raw, start, until in retired:
        if not PublicKey(raw).verify(signature, message):
            continue
        try:
            t = posix_time(issued_at) if isinstance(issued_at, str) else None
        except ValueError:
            t = None
        if t is not None and (start is None or start <= t) and t < until:
            return None
        return (
            "retired_key",
            f"signed at {issued_at} with an issuer key retired at "
            f"{dt.datetime.fromtimestamp(until, dt.UTC):%Y-%m-%dT%H:%M:%SZ}",
        )
    return "bad_signature", "the issuer signature does not verify"


class RetiredKey(BaseModel):
    """A key a member no longer uses, and the period it was valid in.

    ``key`` is written as the member's current key of that role is (base64 for the
    issuer key, a verifier key for the others). ``valid_until`` (RFC 3339, UTC) is
    exclusive: what the key signed at or after it is refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    role: KeyRole
    key: str
    valid_from: str | None = None
    valid_until: str

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            return check_time(v)
        except RecordError as exc:
            raise ValueError(exc.message) from None

    def valid_at(self, when: str) -> bool:
        """Whether ``when`` (RFC 3339) falls in the key's validity period."""
        t = posix_time(when)
        start = posix_time(self.valid_from) if self.valid_from else None
        return (start is None or start <= t) and t < posix_time(self.valid_until)


class Member(BaseModel):
    """One member state's agency and its public keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    agency: str = Field(description="Agency id, e.g. TH-SSO")
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    name: str = Field(min_length=1, max_length=200)
    role: Role
    origin: str = Field(min_length=1, max_length=200, description="The log's checkpoint origin")
    url: str = Field(min_length=1, max_length=500, description="Base URL of the node")
    log_key: str = Field(description="Verifier key of the log's checkpoints (type 0x01)")
    issuer_key: str = Field(description="Base64 Ed25519 key signing records and trust lists")
    witness_key: str = Field(description="Verifier key of the witness's cosignatures (0x04)")
    witness_mldsa_key: str | None = Field(
        None, description="Verifier key of the witness's ML-DSA-44 cosignatures (0x06)"
    )
    retired_keys: tuple[RetiredKey, ...] = Field(
        (), description="Keys rotated out, each with the period it was valid in"
    )

    @field_validator("agency")
    @classmethod
    def _agency(cls, v: str) -> str:
        return check_agency(v)

    @field_validator("retired_keys", mode="before")
    @classmethod
    def _retired(cls, v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    @property
    def witness_mldsa_verifier(self) -> NoteVerifier | None:
        return None if self.witness_mldsa_key is None else parse_vkey(self.witness_mldsa_key)

    def witness_keys(self) -> Witness:
        """This member as a witness: its current cosigning keys and the retired ones."""
        keys = [WitnessKey(self.witness_verifier)]
        if self.witness_mldsa_key is not None:
            keys.append(WitnessKey(parse_vkey(self.witness_mldsa_key)))
        for r in self.retired_keys:
            if r.role in ("witness", "witness_mldsa"):
                keys.append(WitnessKey(parse_vkey(r.key), posix_time(r.valid_until)))
        return Witness(self.agency, tuple(keys))

    def issuer_keys_at(self, issued_at: str) -> list[PublicKey]:
        """The issuer keys valid at ``issued_at``: the current one and any retired one
        whose period holds that time."""
        keys = [self.issuer_public_key]
        for r in self.retired_keys:
            if r.role == "issuer" and r.valid_at(issued_at):
                keys.append(PublicKey.from_base64(r.key))
        return keys

    def retired_issuer_keys(self) -> RetiredIssuerKeys:
        """The member's retired issuer keys, as plain values (see ``RetiredIssuerKeys``)."""
        return tuple(
            (
                PublicKey.from_base64(r.key).raw,
                posix_time(r.valid_from) if r.valid_from else None,
                posix_time(r.valid_until),
            )
            for r in self.retired_keys
            if r.role == "issuer"
        )

    def log_verifiers(self) -> list[NoteVerifier]:
        """The log key and every retired log key (a checkpoint signed before a rotation
        stays valid)."""
        return [self.log_verifier] + [
            parse_vkey(r.key) for r in self.retired_keys if r.role == "log"
        ]

    @property
    def log_verifier(self) -> NoteVerifier:
        return parse_vkey(self.log_key)

    @property
    def witness_verifier(self) -> NoteVerifier:
        return parse_vkey(self.witness_key)

    @property
    def issuer_public_key(self) -> PublicKey:
        return PublicKey.from_base64(self.issuer_key)


class TrustList(BaseModel):
    """One version of the trust list (the signed document, without its signatures)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: Literal["pel-federation"] = "pel-federation"
    federation: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1)
    previous: str | None = Field(None, description="Hex SHA-256 digest of the version before")
    members: tuple[Member, ...] = Field(min_length=1)
    witness_quorum: int = Field(description="Witnesses whose cosignatures a checkpoint needs")
    threshold: int = Field(ge=1, description="Member signatures a new version needs")
    cosigner_policy: Policy = Field(
        "both", description="A witness counts with both keys' cosignatures, or with either"
    )

    def model_post_init(self, context: Any, /) -> None:
        # A trust list that breaks its own rules (a quorum of 0 above all) cannot be made.
        self.check()

    def quorum_rule(self, agency: str) -> QuorumRule:
        """The witness quorum rule for ``agency``'s log (the other members witness it)."""
        return QuorumRule.of(self, agency)

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def signing_bytes(self) -> bytes:
        return SIGNING_CONTEXT + canonicalize(self.document())

    def digest(self) -> str:
        """The hex SHA-256 of the signed bytes: what the next version names as ``previous``."""
        return hashlib.sha256(self.signing_bytes()).hexdigest()

    def member(self, agency: str) -> Member | None:
        return next((m for m in self.members if m.agency == agency), None)

    def member_for_origin(self, origin: str) -> Member | None:
        return next((m for m in self.members if m.origin == origin), None)

    def policy(self, origin: str) -> str:
        """The C2SP tlog-policy for one member's log: its key, the other members as
        witnesses, and the quorum, so auditors can use standard tooling."""
        log = self.member_for_origin(origin)
        if log is None:
            raise TrustListError(f"no member's log has the origin {origin!r}")
        lines = [
            f"# {self.federation} trust list version {self.version}",
            f"log {log.log_key} {log.url}",
        ]
        names = []
        join = "all" if self.cosigner_policy == "both" else "any"
        for m in self.members:
            if m.origin == origin:
                continue
            if m.witness_mldsa_key is None:
                lines.append(f"witness {m.agency} {m.witness_key} {m.url}")
            else:
                # One policy witness per key; the member is the group of its two keys.
                lines.append(f"witness {m.agency}/ed25519 {m.witness_key} {m.url}")
                lines.append(f"witness {m.agency}/ml-dsa-44 {m.witness_mldsa_key} {m.url}")
                lines.append(f"group {m.agency} {join} {m.agency}/ed25519 {m.agency}/ml-dsa-44")
            names.append(m.agency)
        lines.append(f"group members {self.witness_quorum} {' '.join(names)}")
        lines.append("quorum members")
        return "\n".join(lines) + "\n"

    def check(self) -> None:
        """The document's own rules (unique ids, origins and keys; sane numbers)."""
        seen: dict[str, set[str]] = {"agency": set(), "origin": set(), "key": set()}
        for m in self.members:
            for kind, value in (("agency", m.agency), ("origin", m.origin)):
                if value in seen[kind]:
                    raise TrustListError(f"{kind} {value!r} appears twice in the trust list")
                seen[kind].add(value)
        for m in self.members:
            try:
                log_v, wit_v, issuer = m.log_verifier, m.witness_verifier, m.issuer_public_key
                pq_v = m.witness_mldsa_verifier
                retired = [
                    PublicKey.from_base64(r.key).raw
                    if r.role == "issuer"
                    else parse_vkey(r.key).public_key.raw
                    for r in m.retired_keys
                ]
            except CryptoError as exc:
                raise TrustListError(f"member {m.agency}: {exc.message}") from None
            if pq_v is not None and pq_v.alg != ALG_MLDSA44_COSIGNATURE:
                raise TrustListError(f"member {m.agency}: the ML-DSA witness key must be type 0x06")
            if pq_v is None and self.cosigner_policy == "both":
                raise TrustListError(
                    f"member {m.agency} lists no ML-DSA-44 witness key, and the policy "
                    "counts a witness only with both keys"
                )
            if len(set(retired)) != len(retired):
                raise TrustListError(f"member {m.agency}: a retired key is listed twice")
            if log_v.alg != ALG_ED25519 or log_v.name != m.origin:
                raise TrustListError(
                    f"member {m.agency}: the log key must be an Ed25519 note key named "
                    f"after the origin {m.origin!r}"
                )
            if wit_v.alg != ALG_COSIGNATURE_V1:
                raise TrustListError(f"member {m.agency}: the witness key must be cosignature/v1")
            current = [log_v.public_key.raw, wit_v.public_key.raw, issuer.raw]
            if pq_v is not None:
                current.append(pq_v.public_key.raw)
            if set(current) & set(retired):
                raise TrustListError(f"member {m.agency}: a current key is also listed as retired")
            for raw in current:
                if raw.hex() in seen["key"]:
                    raise TrustListError(f"member {m.agency}: a key is used twice")
                seen["key"].add(raw.hex())
        n = len(self.members)
        if self.threshold > n:
            raise TrustListError(f"threshold {self.threshold} exceeds the {n} members")
        check_rule(self.witness_quorum, n - 1)
        if (self.version == 1) != (self.previous is None):
            raise TrustListError("only version 1 has no previous digest")


@dataclass(frozen=True)
class TrustListSignature:
    """One member's signature: by which agency, with which public key (base64)."""

    agency: str
    key: str
    sig: str


@dataclass(frozen=True)
class SignedTrustList:
    """A trust-list version with its signatures.

    An agency rotating its key signs the new version twice: with the old key (which
    the previous version lists) and with the new one (which this version lists).
    """

    trust_list: TrustList
    signatures: tuple[TrustListSignature, ...] = ()

    def to_json(self) -> str:
        sigs = [{"agency": s.agency, "key": s.key, "sig": s.sig} for s in self.signatures]
        return (
            json.dumps(
                {"trust_list": self.trust_list.document(), "signatures": sigs},
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedTrustList:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise TrustListError(f"the trust list is not JSON: {exc}") from None
        if not isinstance(data, dict) or set(data) != {"trust_list", "signatures"}:
            raise TrustListError("a signed trust list holds exactly trust_list and signatures")
        sigs = data["signatures"]
        if not isinstance(sigs, list) or not all(
            isinstance(x, dict)
            and set(x) == {"agency", "key", "sig"}
            and all(isinstance(v, str) for v in x.values())
            for x in sigs
        ):
            raise TrustListError("signatures must be a list of {agency, key, sig} strings")
        try:
            tl = TrustList.model_validate(_tuples(data["trust_list"]))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise TrustListError(f"trust list field {where}: {err['msg']}") from None
        tl.check()
        return cls(tl, tuple(TrustListSignature(**x) for x in sigs))

    def sign(self, agency: str, key: SigningKey) -> SignedTrustList:
        """This version with ``agency``'s signature by ``key`` added."""
        self.trust_list.check()  # nobody signs a list that breaks its own rules
        sig = base64.b64encode(key.sign(self.trust_list.signing_bytes())).decode()
        entry = TrustListSignature(agency, key.public_key.to_base64(), sig)
        kept = tuple(s for s in self.signatures if (s.agency, s.key) != (agency, entry.key))
        return SignedTrustList(self.trust_list, (*kept, entry))

    def signers(self, by: TrustList) -> set[str]:
        """Members of ``by`` that signed this version with the issuer key ``by`` lists."""
        message = self.trust_list.signing_bytes()
        out = set()
        for s in self.signatures:
            member = by.member(s.agency)
            if member is None or member.issuer_key != s.key:
                continue
            try:
                raw = base64.b64decode(s.sig, validate=True)
            except (binascii.Error, ValueError):
                continue
            if member.issuer_public_key.verify(raw, message):
                out.add(s.agency)
        return out


def _tuples(doc: Any) -> Any:
    """JSON arrays to tuples where the strict model wants them."""
    if isinstance(doc, dict) and isinstance(doc.get("members"), list):
        return {**doc, "members": tuple(doc["members"])}
    return doc


def verify_next(signed: SignedTrustList, previous: TrustList | None) -> TrustList:
    """Check one version against the one before it (None: a genesis); return it.

    Raises:
        TrustListError: out of sequence, or short of either threshold of signatures.
    """
    tl = signed.trust_list
    tl.check()
    if previous is None:
        if tl.version != 1:
            raise TrustListError(f"a genesis trust list is version 1, not {tl.version}")
    else:
        if tl.federation != previous.federation:
            raise TrustListError(f"version {tl.version} is of another federation")
        if tl.version != previous.version + 1:
            raise TrustListError(f"version {tl.version} does not follow version {previous.version}")
        if tl.previous != previous.digest():
            raise TrustListError(
                f"version {tl.version} does not name version {previous.version}'s digest"
            )
        old = signed.signers(previous)
        if len(old) < previous.threshold:
            raise TrustListError(
                f"version {tl.version} is signed by {len(old)} of version {previous.version}'s "
                f"members; {previous.threshold} are needed"
            )
    new = signed.signers(tl)
    if len(new) < tl.threshold:
        raise TrustListError(
            f"version {tl.version} is signed by {len(new)} of its own members with their "
            f"listed keys; {tl.threshold} are needed"
        )
    return tl


def follow_chain(genesis_digest: str, chain: Sequence[SignedTrustList]) -> TrustList:
    """Verify a chain from the pinned genesis to its latest version; return the latest.

    Raises:
        TrustListError: the first version is not the pinned genesis, or a link fails.
    """
    if not chain:
        raise TrustListError("the trust-list chain is empty")
    if chain[0].trust_list.digest() != genesis_digest:
        raise TrustListError("the first trust list is not the pinned genesis")
    current: TrustList | None = None
    for signed in chain:
        current = verify_next(signed, current)
    assert current is not None
    return current


def new_version(
    previous: TrustList,
    *,
    members: Iterable[Member] | None = None,
    witness_quorum: int | None = None,
    threshold: int | None = None,
    cosigner_policy: Policy | None = None,
) -> TrustList:
    """An unsigned next version: ``previous`` with the given changes.

    The threshold stays as it was unless the membership changes, when it becomes
    all members (the federation decides by consensus) unless given.
    """
    listed = tuple(members) if members is not None else previous.members
    if threshold is None:
        threshold = previous.threshold if members is None else len(listed)
    try:
        tl = TrustList(
            federation=previous.federation,
            version=previous.version + 1,
            previous=previous.digest(),
            members=listed,
            witness_quorum=previous.witness_quorum if witness_quorum is None else witness_quorum,
            threshold=threshold,
            cosigner_policy=cosigner_policy or previous.cosigner_policy,
        )
    except ValidationError as exc:  # e.g. every member removed: a rule, not a crash
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "trust list"
        raise TrustListError(f"the next version is not valid: {where}: {err['msg']}") from None
    tl.check()
    return tl


def propose_version(
    current: TrustList,
    *,
    add: Iterable[Member] = (),
    remove: Iterable[str] = (),
    witness_quorum: int | None = None,
    threshold: int | None = None,
    cosigner_policy: Policy | None = None,
) -> TrustList:
    """An unsigned next version of ``current``: the ``remove`` agencies taken out, then
    the ``add`` members put in (one with an agency id already listed replaces it).

    Any member added or removed changes the membership, so the threshold becomes all
    members unless given (see :func:`new_version`); otherwise the members stay as listed.

    Raises:
        TrustListError: an agency to remove that is not a member, or a next version
            that does not check.
    """
    members = {m.agency: m for m in current.members}
    for agency in remove:
        if members.pop(agency, None) is None:
            raise TrustListError(f"{agency} is not a member")
    added = False
    for member in add:  # read after the removals are checked: ``add`` may be lazy
        members[member.agency] = member
        added = True
    changed = added or set(members) != {m.agency for m in current.members}
    return new_version(
        current,
        members=list(members.values()) if changed else None,
        witness_quorum=witness_quorum,
        threshold=threshold,
        cosigner_policy=cosigner_policy,
    )
