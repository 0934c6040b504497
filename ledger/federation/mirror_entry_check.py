"""The checks every entry of another member's log passes before a mirror stores it: a
canonical record of the log's agency, signed with the key the trust list gives it.

Pure (no database): the mirror store runs them in line, and a node's signature
workers run them on their own cores (``node/serving/signature_workers.py``), which
then load this module and not the store's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pel.crypto.errors import CryptoError
from pel.crypto.keys import PublicKey
from pel.crypto.note import NoteVerifier
from pel.crypto.record import read_entry, record_signature
from pel.ledger.errors import MirrorError
from pel.ledger.federation.quorum import QuorumRule
from pel.ledger.federation.trust_list import (
    Member,
    RetiredIssuerKeys,
    TrustList,
    retired_key_verdict,
)
from pel.ledger.portability.agreements import entry_problem, keys_from_raw
from pel.ledger.records.types import LAW_TYPES


@dataclass(frozen=True)
class MirroredLog:
    """What the trust list says about one log this node mirrors."""

    origin: str
    agency: str
    log_key: NoteVerifier
    issuer_key: PublicKey
    rule: QuorumRule | None = None
    #: ``(agency, raw issuer key)`` of every member: the keys an agreement's parties sign with.
    party_keys: tuple[tuple[str, bytes], ...] = ()
    retired: RetiredIssuerKeys = ()

    @classmethod
    def of(cls, member: Member, trust_list: TrustList) -> MirroredLog:
        """The member's log, with the trust list's witness quorum rule for it (every
        other member's witness keys, the quorum and the policy)."""
        return cls(
            member.origin,
            member.agency,
            member.log_verifier,
            member.issuer_public_key,
            trust_list.quorum_rule(member.agency),
            tuple((m.agency, m.issuer_public_key.raw) for m in trust_list.members),
            member.retired_issuer_keys(),
        )

    @property
    def witnesses(self) -> tuple[NoteVerifier, ...]:
        """Every witness key of the rule (their lines on a checkpoint must verify)."""
        if self.rule is None:
            return ()
        return tuple(k.verifier for w in self.rule.witnesses for k in w.keys)


RecordMeta = tuple[str, str, str]
"""The columns a mirrored entry is found by: its record id, pwid and type. A plain
tuple: worker processes send thousands of them back per step, and a tuple costs a sixth
of a dataclass to pickle."""


def check_entries(entries: Sequence[bytes], first: int, log: MirroredLog) -> list[RecordMeta]:
    """Check that every entry is a canonical record of the log's agency, signed by it.

    Raises:
        MirrorError: ``bad_record``, ``foreign_issuer`` or ``bad_signature``, naming
            the first entry that fails.
    """
    problem = check_records_of(
        entries,
        first,
        log.origin,
        log.agency,
        log.issuer_key.raw,
        log.party_keys,
        log.retired,
    )
    if isinstance(problem, tuple):
        code, message = problem
        raise MirrorError(message, code=code)
    return problem


def check_records_of(
    entries: Sequence[bytes],
    first: int,
    origin: str,
    agency: str,
    issuer_key: bytes,
    party_keys: tuple[tuple[str, bytes], ...] = (),
    retired: RetiredIssuerKeys = (),
) -> list[RecordMeta] | tuple[str, str]:
    """:func:`check_entries` with the log given by plain values, and the first problem
    returned as ``(code, message)`` rather than raised: what a worker process runs.

    An ``agreement`` is the one record another agency may have issued: it is checked
    with every party's key (``party_keys``) instead (:func:`entry_problem`)."""
    key = PublicKey(issuer_key)
    parties = keys_from_raw(party_keys) if party_keys else None
    out = []
    for i, entry in enumerate(entries):
        try:
            # The entry must be the record's canonical JSON; its signing bytes are cut
            # out of it rather than encoded again.
            record, signing = read_entry(entry)
            type_ = record["type"]
            pwid = record.get("pwid", "") if type_ in LAW_TYPES else record["pwid"]
            meta = record_id, pwid, type_ = record["id"], pwid, type_
            if not (type(record_id) is str and type(pwid) is str and type(type_) is str):
                raise ValueError("id, pwid and type must be strings")
            # The columns' sizes (the origin's own validation keeps well inside them).
            if len(record_id) > 128 or len(pwid) > 32 or len(type_) > 16:
                raise ValueError("id, pwid or type is too long")
        except (ValueError, KeyError, CryptoError) as exc:
            return "bad_record", f"{origin} entry {first + i}: {exc}"
        if type_ == "agreement":
            try:
                problem = entry_problem(
                    record, signing, record_signature(record), owner=agency, keys=parties
                )
            except CryptoError as exc:
                problem = "bad_signature", exc.message
            if problem is not None:
                return problem[0], f"{origin} entry {first + i}: {problem[1]}"
            out.append(meta)
            continue
        if record.get("issuer") != agency:
            return (
                "foreign_issuer",
                f"{origin} entry {first + i} is issued by {record.get('issuer')!r}, "
                f"not by {agency}, whose log it is",
            )
        try:
            sig = record_signature(record)
            if not key.verify(sig, signing):
                # Made before a rotation, with a key the trust list keeps as retired?
                verdict = retired_key_verdict(retired, record.get("issued_at"), sig, signing)
                if verdict is not None:
                    code, why = verdict
                    return code, f"{origin} entry {first + i}: {why}"
        except CryptoError as exc:
            return "bad_signature", f"{origin} entry {first + i}: {exc.message}"
        out.append(meta)
    return out
