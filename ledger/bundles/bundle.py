"""A worker's proof bundle (``pel-bundle/v1``): build, parse, verify offline, summarise.

A bundle is one JSON document in RFC 8785 canonical form (UTF-8, nothing else)::

    {"format": "pel-bundle/v1",
     "pwid": "<PWID>",
     "trust_list": {"version": <int>, "digest": "<TrustList.digest() of that version>"},
     "records": [{"record": {<signed record>}, "proof": "<C2SP tlog-proof text>"}, …],
     "completeness": [{"checkpoint": "<cosigned checkpoint note>",
                       "proof": {<index proof, ledger.index.proof>}}, …]}

``completeness`` (present only when not empty, one item per log, by origin) proves,
for each log, the complete list of the pwid's indexes in that log below the
checkpoint's size, against the index root the checkpoint commits to
(``docs/completeness.md``). Every listed index must be a record of the bundle: a
record left out is refused as ``incomplete``, naming the log and the index.

Each record's RFC 8785 form is exactly its log entry, so its leaf hash is
SHA-256(0x00 ‖ JCS(record)) and each ``proof`` can be checked by any tlog-proof
verifier. Records are ordered by (log origin, index) and all name the bundle's pwid,
except the public law a bundle may carry for a decision on it (``rules``,
``agreement`` and ``withdrawal`` records, which name no worker; an agreement counts only
when every party's signature verifies with the trust list's keys).

:func:`verify_bundle` needs nothing but the bundle and the trust list (no clock, no
network). It checks that the text is exactly canonical, each record's schema and
issuer signature, each checkpoint's log signature and that *every* other signature
line on it is a valid cosignature of another member's witness key (an unknown line
means tampering: pel writes only those), the trust list's witness quorum, each
inclusion proof, and that every amendment's and revocation's target is in the
bundle. Then it applies the corrections: a revoked record counts for nothing, an
amendment replaces its target's body. :func:`summarise` turns the result into what
a person asks: per host state, months of contributions by branch, insured earnings
by currency, entitlements and their status.

A proof of inclusion says nothing about what else a log holds: only the
completeness proofs show that no record (a revocation, an amendment) was withheld.
A log of the trust list without one is reported as not proven complete; with
``require_complete`` every log of the trust list must have one.

Errors (all :class:`BundleError`, code in brackets)::

    bad_format  not_canonical  trust_list_mismatch  pwid_mismatch  bad_record
    unknown_issuer  bad_record_signature  bad_proof  bad_checkpoint  wrong_log
    bad_checkpoint_signature  unknown_signature  bad_cosignature  no_quorum  retired_key
    bad_inclusion_proof  not_ordered  duplicate_record  missing_target  target_mismatch
    incomplete  bad_index_proof  no_index  index_mismatch
    bad_agreement
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pel.crypto.errors import CryptoError, PelError
from pel.crypto.jcs import canonicalize
from pel.crypto.keys import PublicKey
from pel.crypto.note import ALG_ED25519, NoteVerifier, parse_note
from pel.crypto.record import verify_record
from pel.ledger.errors import (
    BundleError,
    CorrectionError,
    LedgerError,
    ProofError,
    QuorumError,
    RootMismatchError,
    TrustListError,
)
from pel.ledger.federation.quorum import enforce
from pel.ledger.federation.trust_list import Member, TrustList, posix_time
from pel.ledger.index import IndexProof, parse_extension, verify_index_proof
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import verify_inclusion
from pel.ledger.portability.agreements import verify_agreement
from pel.ledger.records import validate_record
from pel.ledger.records.corrections import resolve
from pel.ledger.records.fields import check_pwid
from pel.ledger.records.types import LAW_TYPES
from pel.ledger.tlog.checkpoint import Checkpoint
from pel.ledger.tlog.tlog_proof import TlogProof, format_proof, parse_proof

FORMAT = "pel-bundle/v1"
_KEYS = {"format", "pwid", "trust_list", "records"}
_OPTIONAL = {"completeness"}


# ---- the document ---------------------------------------------------------------


@dataclass(frozen=True)
class BundleEntry:
    """One record with its C2SP tlog-proof."""

    record: dict[str, Any]
    proof: str

    def to_obj(self) -> dict[str, Any]:
        return {"record": self.record, "proof": self.proof}


@dataclass(frozen=True)
class BundleIndex:
    """One log's index proof: the pwid's complete list of indexes in the log below the
    size of ``checkpoint`` (a cosigned note), proven against the root it commits to."""

    checkpoint: str
    proof: dict[str, Any]

    def to_obj(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "proof": self.proof}

    @property
    def origin_and_size(self) -> tuple[str, int]:
        cp = Checkpoint.parse(parse_note(self.checkpoint.encode()).text)
        return cp.origin, cp.size


@dataclass(frozen=True)
class Bundle:
    """A worker's bundle; :meth:`to_json` writes its canonical form."""

    pwid: str
    trust_version: int
    trust_digest: str
    records: tuple[BundleEntry, ...] = ()
    completeness: tuple[BundleIndex, ...] = ()

    def to_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "format": FORMAT,
            "pwid": self.pwid,
            "trust_list": {"version": self.trust_version, "digest": self.trust_digest},
            "records": [e.to_obj() for e in self.records],
        }
        if self.completeness:
            obj["completeness"] = [c.to_obj() for c in self.completeness]
        return obj

    def to_bytes(self) -> bytes:
        """The RFC 8785 canonical UTF-8 bytes: what is stored, sent and hashed."""
        return canonicalize(self.to_obj())

    def to_json(self) -> str:
        return self.to_bytes().decode("utf-8")

    def digest(self) -> str:
        """Lowercase hex SHA-256 of the canonical bytes (what a QR reference carries)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_json(cls, text: str | bytes) -> Bundle:
        """Parse a bundle strictly: UTF-8, exactly its canonical form, the v1 shape.

        Raises:
            BundleError: ``bad_format`` or ``not_canonical``.
        """
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        try:
            data = json.loads(
                raw.decode("utf-8"),
                object_pairs_hook=_no_duplicates,
                parse_constant=_no_constant,
            )
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BundleError("bad_format", f"the bundle is not JSON: {exc}") from None
        try:
            canonical = canonicalize(data)
        except PelError:
            canonical = b""
        if canonical != raw:
            raise BundleError(
                "not_canonical",
                "the bundle is not exactly in its canonical (RFC 8785) form: it was altered "
                "or re-written",
            )
        return cls._from_obj(data)

    @classmethod
    def _from_obj(cls, data: Any) -> Bundle:
        if not isinstance(data, dict) or not _KEYS <= set(data) <= _KEYS | _OPTIONAL:
            raise BundleError(
                "bad_format",
                f"a bundle holds exactly {sorted(_KEYS)}, and may hold {sorted(_OPTIONAL)}",
            )
        if data["format"] != FORMAT:
            raise BundleError("bad_format", f"the bundle's format is not {FORMAT!r}")
        tl = data["trust_list"]
        if (
            not isinstance(tl, dict)
            or set(tl) != {"version", "digest"}
            or type(tl["version"]) is not int
            or not isinstance(tl["digest"], str)
        ):
            raise BundleError("bad_format", "trust_list must be {version: integer, digest: string}")
        if not isinstance(data["pwid"], str):
            raise BundleError("bad_format", "the bundle's pwid must be a string")
        records = data["records"]
        if not isinstance(records, list):
            raise BundleError("bad_format", "records must be a list")
        entries = []
        for i, item in enumerate(records):
            if (
                not isinstance(item, dict)
                or set(item) != {"record", "proof"}
                or not isinstance(item["record"], dict)
                or not isinstance(item["proof"], str)
            ):
                raise BundleError(
                    "bad_format", f"records[{i}] must be {{record: object, proof: string}}"
                )
            entries.append(BundleEntry(item["record"], item["proof"]))
        completeness = []
        items = data.get("completeness", [])
        if not isinstance(items, list) or ("completeness" in data and not items):
            raise BundleError("bad_format", "completeness must be a non-empty list")
        for i, item in enumerate(items):
            if (
                not isinstance(item, dict)
                or set(item) != {"checkpoint", "proof"}
                or not isinstance(item["checkpoint"], str)
                or not isinstance(item["proof"], dict)
            ):
                raise BundleError(
                    "bad_format",
                    f"completeness[{i}] must be {{checkpoint: string, proof: object}}",
                )
            completeness.append(BundleIndex(item["checkpoint"], item["proof"]))
        return cls(data["pwid"], tl["version"], tl["digest"], tuple(entries), tuple(completeness))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# ---- building -------------------------------------------------------------------


def make_entry(
    record: Mapping[str, Any], index: int, hashes: Sequence[bytes], note: bytes
) -> BundleEntry:
    """A bundle entry: the record and its tlog-proof against the cosigned ``note``."""
    return BundleEntry(dict(record), format_proof(index, hashes, note))


def _sort_key(entry: BundleEntry) -> tuple[str, int]:
    proof = parse_proof(entry.proof)
    origin = Checkpoint.parse(parse_note(proof.checkpoint).text).origin
    return origin, proof.index


def make_index(proof: IndexProof, note: bytes) -> BundleIndex:
    """A log's completeness item: ``proof`` against the cosigned checkpoint ``note``."""
    return BundleIndex(note.decode("utf-8"), proof.to_json())


def _chosen_indexes(items: Iterable[BundleIndex]) -> tuple[BundleIndex, ...]:
    """One completeness item per log, the one of the largest checkpoint, by origin."""
    best: dict[str, tuple[int, BundleIndex]] = {}
    for item in items:
        try:
            origin, size = item.origin_and_size
        except (CryptoError, LedgerError) as exc:
            raise BundleError(
                "bad_checkpoint", f"a completeness checkpoint is malformed: {exc.message}"
            ) from None
        if origin not in best or size > best[origin][0]:
            best[origin] = (size, item)
    return tuple(best[o][1] for o in sorted(best))


def build_bundle(
    pwid: str,
    trust_list: TrustList,
    entries: Iterable[BundleEntry],
    completeness: Iterable[BundleIndex] = (),
) -> Bundle:
    """A bundle of ``entries`` under ``trust_list``, in (origin, index) order, each record
    once (the same entry from two parts is kept once; a record appearing twice under
    different proofs keeps the one against the larger checkpoint; an agreement found in
    several parties' logs keeps the copy in the lowest log origin), with one
    completeness item per log (the one against the larger checkpoint)."""
    chosen: dict[tuple[str, int], BundleEntry] = {}
    sizes: dict[tuple[str, int], int] = {}
    for e in entries:
        key = _sort_key(e)
        size = Checkpoint.parse(parse_note(parse_proof(e.proof).checkpoint).text).size
        if key not in chosen or size > sizes[key]:
            chosen[key], sizes[key] = e, size
    # An agreement is the same record in every party's log: one copy, the lowest log's.
    first: dict[tuple[Any, ...], tuple[str, int]] = {}
    for k in sorted(chosen):
        record = chosen[k].record
        key = (record.get("issuer"), record.get("id")) if record.get("type") == "agreement" else k
        first.setdefault(key, k)
    ordered = tuple(chosen[k] for k in sorted(first.values()))
    return Bundle(
        pwid, trust_list.version, trust_list.digest(), ordered, _chosen_indexes(completeness)
    )


def merge_bundles(parts: Sequence[Bundle], trust_list: TrustList) -> Bundle:
    """One bundle from the parts the members' nodes sent (same pwid and trust list).

    Raises:
        BundleError: the parts name different pwids or trust-list versions.
    """
    if not parts:
        raise BundleError("bad_format", "there are no bundle parts to merge")
    pwid = parts[0].pwid
    for p in parts:
        if p.pwid != pwid:
            raise BundleError("pwid_mismatch", "the bundle parts are of different workers")
        if (p.trust_version, p.trust_digest) != (trust_list.version, trust_list.digest()):
            raise BundleError(
                "trust_list_mismatch",
                f"a part names trust-list version {p.trust_version}, not version "
                f"{trust_list.version} that this merge uses",
            )
    return build_bundle(
        pwid,
        trust_list,
        [e for p in parts for e in p.records],
        [c for p in parts for c in p.completeness],
    )


# ---- verification ---------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedRecord:
    """A record whose signature and inclusion verified, with what corrections did to it.

    ``status`` is ``valid``, ``amended`` (``body`` is the latest amendment's) or
    ``revoked`` (it counts for nothing).
    """

    record: dict[str, Any]
    member: Member
    index: int
    checkpoint_size: int
    cosigners: tuple[str, ...]
    status: str = "valid"
    body: dict[str, Any] = field(default_factory=dict)
    corrected_by: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return self.record["issuer"], self.record["id"]

    @property
    def type(self) -> str:
        return str(self.record["type"])

    @property
    def counts(self) -> bool:
        """Whether the record stands (not revoked; corrections themselves never count)."""
        return self.status != "revoked" and self.type not in ("amendment", "revocation")


@dataclass(frozen=True)
class LogCompleteness:
    """A log in which the bundle is proven to hold all of the worker's records below
    ``size`` (``indexes``: where they are)."""

    agency: str
    origin: str
    size: int
    indexes: tuple[int, ...]
    cosigners: tuple[str, ...]


@dataclass(frozen=True)
class BundleReport:
    """What a verified bundle proves; ``unproven``: the trust list's logs for which the
    bundle carries no completeness proof (origins)."""

    pwid: str
    trust_version: int
    digest: str
    records: tuple[VerifiedRecord, ...]
    complete: tuple[LogCompleteness, ...] = ()
    unproven: tuple[str, ...] = ()

    @property
    def home_country(self) -> str:
        return self.pwid[:2]


def _trust_for(bundle: Bundle, trust: TrustList | Sequence[TrustList]) -> TrustList:
    versions = [trust] if isinstance(trust, TrustList) else list(trust)
    for tl in versions:
        if tl.version == bundle.trust_version:
            if tl.digest() != bundle.trust_digest:
                raise BundleError(
                    "trust_list_mismatch",
                    f"the bundle names trust-list version {tl.version} with another digest "
                    "than the one held here",
                )
            return tl
    held = ", ".join(str(t.version) for t in versions)
    raise BundleError(
        "trust_list_mismatch",
        f"the bundle was made under trust-list version {bundle.trust_version}; "
        f"this verifier holds version {held}",
    )


def _check_checkpoint(
    note: bytes, log: Member, trust_list: TrustList
) -> tuple[Checkpoint, tuple[str, ...]]:
    """Check every signature line of a bundle checkpoint; return it and its cosigners."""
    try:
        parsed = parse_note(note)
        checkpoint = Checkpoint.parse(parsed.text)
    except (CryptoError, LedgerError) as exc:
        raise BundleError("bad_checkpoint", f"a checkpoint is malformed: {exc.message}") from None
    if checkpoint.origin != log.origin:
        raise BundleError(
            "wrong_log",
            f"a record of {log.agency} is proved against the log {checkpoint.origin!r}, "
            f"not {log.agency}'s log {log.origin!r}",
        )
    log_keys = {(k.name, k.key_id): k for k in log.log_verifiers() if k.alg == ALG_ED25519}
    try:
        rule = trust_list.quorum_rule(log.agency)
    except TrustListError as exc:
        raise BundleError("no_quorum", exc.message) from None
    witness_lines = rule.key_lines()
    seen: set[tuple[str, bytes]] = set()
    log_signed: NoteVerifier | None = None
    for sig in parsed.signatures:
        key = (sig.name, sig.key_id)
        if key in seen:
            raise BundleError("unknown_signature", f"the checkpoint repeats {sig.name!r}'s line")
        seen.add(key)
        if key in log_keys:
            if not log_keys[key].verify(parsed.text, sig.payload):
                raise BundleError(
                    "bad_checkpoint_signature",
                    f"the log signature of {log.agency}'s checkpoint does not verify",
                )
            log_signed = log_keys[key]
        elif key not in witness_lines:
            raise BundleError(
                "unknown_signature",
                f"the checkpoint of {log.agency}'s log carries a signature by {sig.name!r} "
                "that no member's key in the trust list makes",
            )
    if log_signed is None:
        raise BundleError(
            "bad_checkpoint_signature",
            f"the checkpoint is not signed by {log.agency}'s log key",
        )
    result = rule.check(parsed.text, parsed.signatures)
    if result.invalid:
        agency, why = sorted(result.invalid.items())[0]
        raise BundleError(
            "bad_cosignature",
            f"{agency}'s cosignature on {log.agency}'s checkpoint does not verify: {why}",
        )
    try:
        enforce(result)
    except QuorumError as exc:
        raise BundleError(
            "no_quorum", f"{log.agency}'s checkpoint at size {checkpoint.size}: {exc.message}"
        ) from None
    if log_signed != log.log_verifier:
        _check_retired_log_key(log, log_signed, result.timestamps, checkpoint.size)
    return checkpoint, result.verified


def _check_retired_log_key(
    log: Member, key: NoteVerifier, stamps: Mapping[str, int], size: int
) -> None:
    """A checkpoint signed with a retired log key counts only when the witnesses that
    make its quorum cosigned it before the key's retirement: their timestamps are the
    only clock a checkpoint has."""
    until = next(
        posix_time(r.valid_until) for r in log.retired_keys if r.role == "log" and r.key == key.vkey
    )
    if max(stamps.values(), default=until) >= until:
        raise BundleError(
            "retired_key",
            f"{log.agency}'s checkpoint at size {size} is signed with a log key retired "
            "before the witnesses cosigned it",
        )


def record_key_problem(record: Mapping[str, Any], member: Member) -> tuple[str, str] | None:
    """None when the record's signature verifies with an issuer key of ``member`` valid
    at its ``issued_at``; else ``(code, why)``: ``retired_key`` when it was made with a
    key retired before that time, ``bad_record_signature`` otherwise."""
    for key in member.issuer_keys_at(record["issued_at"]):
        try:
            verify_record(record, key)
            return None
        except CryptoError:
            continue
    for r in member.retired_keys:
        if r.role != "issuer":
            continue
        try:
            verify_record(record, PublicKey.from_base64(r.key))
        except CryptoError:
            continue
        return (
            "retired_key",
            f"signed with {member.agency}'s issuer key retired at {r.valid_until}, "
            f"at {record['issued_at']}",
        )
    return "bad_record_signature", "the issuer's signature does not verify"


_Checked = dict[tuple[bytes, str], tuple[Checkpoint, tuple[str, ...]]]


def _agreement_log(
    proof: TlogProof, record: dict[str, Any], issuer: Member, trust_list: TrustList
) -> Member:
    """The member whose log an agreement is proven in: any party's (the same record is
    appended to every party's log), so a bundle may carry the copy of any of them."""
    try:
        origin = Checkpoint.parse(parse_note(proof.checkpoint).text).origin
    except (CryptoError, LedgerError):
        return issuer  # the checkpoint check says what is wrong with it
    log = trust_list.member_for_origin(origin)
    if log is not None and log.agency in record["body"]["parties"]:
        return log
    return issuer


def _verify_entry(
    entry: BundleEntry, pwid: str, trust_list: TrustList, position: int, checked: _Checked
) -> VerifiedRecord:
    record = entry.record
    where = f"record {position + 1}"
    try:
        validate_record(record, signed=True)
    except LedgerError as exc:
        raise BundleError("bad_record", f"{where} is not a valid record: {exc.message}") from None
    where = f"record {record['issuer']}/{record['id']}"
    law = record["type"] in LAW_TYPES
    if not law and record["pwid"] != pwid:
        raise BundleError("pwid_mismatch", f"{where} is of another worker than the bundle's")
    member = trust_list.member(record["issuer"])
    if member is None:
        raise BundleError(
            "unknown_issuer",
            f"{where} was issued by {record['issuer']}, not a member in trust-list version "
            f"{trust_list.version}",
        )
    problem = record_key_problem(record, member)
    if problem is not None:
        raise BundleError(problem[0], f"{where}: {problem[1]}")
    if record["type"] == "agreement":
        keys = {m.agency: [m.issuer_public_key] for m in trust_list.members}
        try:
            verify_agreement(record, keys)
        except LedgerError as exc:
            raise BundleError("bad_agreement", f"{where}: {exc.message}") from None
    try:
        proof: TlogProof = parse_proof(entry.proof)
    except ProofError as exc:
        raise BundleError(
            "bad_proof", f"{where}: the tlog-proof is malformed: {exc.message}"
        ) from None
    if proof.text() != entry.proof:
        raise BundleError("bad_proof", f"{where}: the tlog-proof is not in its canonical form")
    if record["type"] == "agreement":
        member = _agreement_log(proof, record, member, trust_list)
    # Records of one log usually share a checkpoint: check its signatures once.
    seen = (proof.checkpoint, member.agency)
    if seen not in checked:
        checked[seen] = _check_checkpoint(proof.checkpoint, member, trust_list)
    checkpoint, cosigners = checked[seen]
    leaf = hash_leaf(canonicalize(record))
    try:
        verify_inclusion(proof.index, checkpoint.size, leaf, proof.hashes, checkpoint.root)
    except RootMismatchError:
        raise BundleError(
            "bad_inclusion_proof",
            f"{where} is not entry {proof.index} of {member.agency}'s log at size "
            f"{checkpoint.size}: the inclusion proof does not lead to the signed root",
        ) from None
    except ProofError as exc:
        raise BundleError("bad_inclusion_proof", f"{where}: {exc.message}") from None
    return VerifiedRecord(
        record, member, proof.index, checkpoint.size, cosigners, body=dict(record["body"])
    )


def _apply_corrections(verified: list[VerifiedRecord]) -> list[VerifiedRecord]:
    """Each record with its corrections applied (``ledger.records.corrections``, strictly:
    a correction whose target is not in the bundle or does not fit makes it invalid)."""
    order = sorted(
        range(len(verified)), key=lambda i: (verified[i].member.origin, verified[i].index)
    )
    try:
        status, body, fixes = resolve(
            [v.record for v in verified],
            [(v.member.origin, v.index) for v in verified],
            order=order,
            strict=True,
        )
    except CorrectionError as exc:
        raise BundleError(exc.code, exc.message) from None
    return [
        VerifiedRecord(
            v.record,
            v.member,
            v.index,
            v.checkpoint_size,
            v.cosigners,
            status=status[i],
            body=dict(body[i]) if status[i] == "amended" else v.body,
            corrected_by=tuple(verified[j].record["id"] for j in reversed(fixes.get(i, ()))),
        )
        for i, v in enumerate(verified)
    ]


def _verify_completeness(
    items: Sequence[BundleIndex],
    pwid: str,
    trust_list: TrustList,
    verified: Sequence[VerifiedRecord],
) -> list[LogCompleteness]:
    """Check each log's index proof, then that every index it lists is in the bundle."""
    out: list[LogCompleteness] = []
    last = ""
    for item in items:
        note = item.checkpoint.encode("utf-8")
        try:
            origin, _ = item.origin_and_size
        except (CryptoError, LedgerError) as exc:
            raise BundleError(
                "bad_checkpoint", f"a completeness checkpoint is malformed: {exc.message}"
            ) from None
        if origin <= last:
            raise BundleError("not_ordered", "completeness items must be by origin, each once")
        last = origin
        member = trust_list.member_for_origin(origin)
        if member is None:
            raise BundleError(
                "wrong_log", f"a completeness proof is for {origin!r}, not a member's log"
            )
        checkpoint, cosigners = _check_checkpoint(note, member, trust_list)
        try:
            root = parse_extension(checkpoint.extensions)
        except ProofError as exc:
            raise BundleError("no_index", f"{member.agency}'s checkpoint: {exc.message}") from None
        if root is None:
            raise BundleError(
                "no_index",
                f"{member.agency}'s checkpoint at size {checkpoint.size} commits to no index",
            )
        where = f"{member.agency}'s log ({origin})"
        try:
            proof = IndexProof.from_json(item.proof)
            if proof.size != checkpoint.size:
                raise ProofError(f"it is for size {proof.size}, its checkpoint {checkpoint.size}")
            verify_index_proof(proof, pwid, root)
        except ProofError as exc:
            raise BundleError(
                "bad_index_proof", f"the index proof of {where} does not verify: {exc.message}"
            ) from None
        held = {  # the law a bundle carries is no worker's record: no index lists it
            v.index for v in verified if v.member.origin == origin and v.type not in LAW_TYPES
        }
        for index in proof.indexes:
            if index not in held:
                raise BundleError(
                    "incomplete",
                    f"the bundle leaves out entry {index} of {where}, one of this worker's "
                    f"records by the log's index at size {checkpoint.size}",
                )
        listed = set(proof.indexes)
        for index in sorted(held):
            if index < checkpoint.size and index not in listed:
                raise BundleError(
                    "index_mismatch",
                    f"entry {index} of {where} is this worker's record, but the log's index "
                    f"at size {checkpoint.size} does not list it",
                )
        out.append(
            LogCompleteness(member.agency, origin, checkpoint.size, proof.indexes, cosigners)
        )
    return out


def verify_bundle(
    bundle: str | bytes | Bundle,
    trust: TrustList | Sequence[TrustList],
    *,
    require_complete: bool = False,
) -> BundleReport:
    """Verify a bundle offline against the trust list (or a verified chain of versions).

    Args:
        bundle: The bundle text (checked to be exactly canonical) or a parsed Bundle.
        trust: The trust list held by the verifier; a sequence means a chain already
            verified (``ledger.federation.follow_chain``): the version the bundle names
            is used, so a bundle made under an earlier version still verifies.

    Returns:
        The records with corrections applied.

    Raises:
        BundleError: with a stable code for the first failure found.
    """
    if isinstance(bundle, Bundle):
        try:
            bundle = bundle.to_bytes()  # checked exactly as if read from a file
        except PelError as exc:
            raise BundleError(
                "not_canonical", f"the bundle has no canonical form: {exc.message}"
            ) from None
    parsed = Bundle.from_json(bundle)
    raw = bundle.encode("utf-8") if isinstance(bundle, str) else bytes(bundle)
    digest = hashlib.sha256(raw).hexdigest()
    trust_list = _trust_for(parsed, trust)
    try:
        check_pwid(parsed.pwid)
    except ValueError:
        raise BundleError("bad_format", "the bundle's pwid is not a PWID") from None
    if not parsed.records and not parsed.completeness:
        raise BundleError("bad_format", "the bundle holds no records")
    verified: list[VerifiedRecord] = []
    last: tuple[str, int] | None = None
    keys: set[tuple[str, str]] = set()
    checked: _Checked = {}
    for pos, entry in enumerate(parsed.records):
        v = _verify_entry(entry, parsed.pwid, trust_list, pos, checked)
        here = (v.member.origin, v.index)
        if last is not None and here <= last:
            raise BundleError(
                "not_ordered" if here != last else "duplicate_record",
                "the bundle's records are not in (log origin, index) order, each once",
            )
        if v.key in keys:
            raise BundleError("duplicate_record", f"record {v.key[0]}/{v.key[1]} appears twice")
        keys.add(v.key)
        last = here
        verified.append(v)
    complete = _verify_completeness(parsed.completeness, parsed.pwid, trust_list, verified)
    proven = {c.origin for c in complete}
    unproven = tuple(sorted(m.origin for m in trust_list.members if m.origin not in proven))
    if require_complete and unproven:
        raise BundleError(
            "incomplete",
            f"the bundle does not prove that it holds all of the worker's records in "
            f"{', '.join(unproven)}",
        )
    return BundleReport(
        parsed.pwid,
        trust_list.version,
        digest,
        tuple(_apply_corrections(verified)),
        tuple(complete),
        unproven,
    )


# A person's reading of a report lives in its own module; it is part of this API.
from pel.ledger.bundles.summary import StateSummary, Summary, summarise  # noqa: E402

__all__ = [
    "FORMAT",
    "Bundle",
    "BundleEntry",
    "BundleError",
    "BundleIndex",
    "BundleReport",
    "LogCompleteness",
    "StateSummary",
    "Summary",
    "VerifiedRecord",
    "build_bundle",
    "make_entry",
    "make_index",
    "merge_bundles",
    "summarise",
    "verify_bundle",
]
