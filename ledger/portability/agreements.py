"""Agreements between states: the terms, every party's signature, and when they are in force.

An ``agreement`` record (body format ``pel-agreement/v1``)::

    {"v": 1, "type": "agreement", "issuer": "TH-SSO", "id": "agreement-th-my-mm-2026",
     "issued_at": "2026-12-07T00:00:00Z",
     "body": {"format": "pel-agreement/v1",
              "parties": ["TH-SSO", "MY-PERKESO", "MM-SSB"],      # 2 to 10 agencies
              "branches": ["old_age", "invalidity"],
              "totalisation": true,            # insurance periods added up
              "minimum_period_months": 12,     # EU 883/2004 art. 57
              "export": true,                  # benefits paid abroad
              "in_force_from": "2027-01-01", "until": null,
              "legal_text": {"title": "…", "url": "https://…"},
              "signatures": [{"issuer": "TH-SSO", "sig": "<base64>"}, …]},
     "sig": "<base64>"}

Every party signs the same bytes: the RFC 8785 canonical JSON of the record without
``sig`` and without ``body.signatures`` (:func:`signing_bytes`). The record's issuer is
the first party, the proposer; its ``sig`` (the envelope signature every record has)
is made last, over the record with every party's signature in it. The same record,
byte for byte, is appended to every party's log.

A party leaves by a ``withdrawal`` record in its own log, body
``{"agreement": {"issuer", "id"}, "effective": "YYYY-MM-DD"}``: from that date it is no
longer bound; an agreement with fewer than two parties left is no longer in force.
Nothing is rewritten.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pel.crypto.jcs import canonicalize
from pel.crypto.keys import PublicKey, SigningKey
from pel.crypto.record import encode_signature
from pel.ledger.errors import AgreementError

FORMAT = "pel-agreement/v1"
MIN_PARTIES = 2
MAX_PARTIES = 10


def signing_bytes(record: Mapping[str, Any]) -> bytes:
    """What every party signs: JCS of the record without ``sig`` and ``body.signatures``."""
    body = {k: v for k, v in record["body"].items() if k != "signatures"}
    rest = {k: v for k, v in record.items() if k not in ("sig", "body")}
    return canonicalize({**rest, "body": body})


def check_terms(record: Mapping[str, Any]) -> None:
    """What the schema cannot say: the proposer is the first party, parties differ, the
    dates are in order, each party signs at most once and only parties sign.

    Raises:
        AgreementError: with the field path.
    """
    body = record["body"]
    parties = body["parties"]
    if len(set(parties)) != len(parties):
        raise AgreementError("a party is named twice", code="bad_parties", field="body.parties")
    if record["issuer"] != parties[0]:
        raise AgreementError(
            f"the record's issuer {record['issuer']!r} must be the first party (the proposer), "
            f"{parties[0]!r}",
            code="bad_parties",
            field="issuer",
        )
    if len(set(body["branches"])) != len(body["branches"]):
        raise AgreementError("a branch is named twice", code="bad_value", field="body.branches")
    until = body.get("until")
    if until is not None and until <= body["in_force_from"]:
        raise AgreementError(
            "until must come after in_force_from", code="bad_dates", field="body.until"
        )
    seen: set[str] = set()
    for i, s in enumerate(body["signatures"]):
        if s["issuer"] not in parties:
            raise AgreementError(
                f"{s['issuer']} signed but is not a party",
                code="not_a_party",
                field=f"body.signatures.{i}.issuer",
            )
        if s["issuer"] in seen:
            raise AgreementError(
                f"{s['issuer']} signed twice",
                code="bad_signature",
                field=f"body.signatures.{i}.issuer",
            )
        seen.add(s["issuer"])


@dataclass
class SignatureCheck:
    """Which parties' signatures verify (``verified``), fail (``invalid``: why), are
    absent (``missing``) or cannot be checked for want of a key (``unknown``)."""

    verified: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.invalid or self.missing or self.unknown) and bool(self.verified)


def _raw_sig(sig: object) -> bytes | None:
    if not isinstance(sig, str):
        return None
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode() == sig and len(raw) == 64 else None


def check_signatures(
    record: Mapping[str, Any], keys: Mapping[str, Sequence[PublicKey]]
) -> SignatureCheck:
    """Check every party's signature on the agreement.

    Args:
        record: The agreement record (its schema already checked).
        keys: Each agency's current issuer key(s), e.g. from the trust list.
    """
    message = signing_bytes(record)
    by_party = {s["issuer"]: s["sig"] for s in record["body"]["signatures"]}
    result = SignatureCheck()
    for party in record["body"]["parties"]:
        if party not in by_party:
            result.missing.append(party)
            continue
        party_keys = keys.get(party) or ()
        if not party_keys:
            result.unknown.append(party)
            continue
        raw = _raw_sig(by_party[party])
        if raw is None:
            result.invalid[party] = "not a canonical base64 Ed25519 signature"
        elif any(k.verify(raw, message) for k in party_keys):
            result.verified.append(party)
        else:
            result.invalid[party] = "does not verify with the party's issuer key"
    return result


def verify_agreement(record: Mapping[str, Any], keys: Mapping[str, Sequence[PublicKey]]) -> None:
    """Enforce :func:`check_terms` and that every party signed the same bytes.

    Raises:
        AgreementError: ``missing_party_signature``, ``bad_party_signature`` or
            ``unknown_party`` (a party whose key the trust list does not give).
    """
    check_terms(record)
    got = check_signatures(record, keys)
    if got.missing:
        raise AgreementError(
            f"not signed by every party: {', '.join(got.missing)} did not sign "
            f"({len(got.verified)} of {len(record['body']['parties'])} signatures verify)",
            code="missing_party_signature",
            field="body.signatures",
        )
    if got.invalid:
        party, why = next(iter(got.invalid.items()))
        raise AgreementError(
            f"the signature of {party}: {why}", code="bad_party_signature", field="body.signatures"
        )
    if got.unknown:
        raise AgreementError(
            f"no issuer key known for {', '.join(got.unknown)}: is it a member of the "
            "federation's current trust list?",
            code="unknown_party",
            field="body.parties",
        )


def entry_problem(
    record: Mapping[str, Any],
    signing: bytes,
    sig: bytes,
    *,
    owner: str | None,
    keys: Mapping[str, Sequence[PublicKey]] | None,
) -> tuple[str, str] | None:
    """What is wrong with an agreement read from a log (by a mirror or an auditor), as
    ``(code, message)``, or None: the log's owner must be a party, the proposer's envelope
    signature must verify, and so must every party's.

    Args:
        record: The record as read from the entry.
        signing: Its signing bytes (the entry without ``sig``).
        sig: The raw envelope signature.
        owner: The agency whose log it is (None: not known).
        keys: Every member's issuer key(s) by agency; None when the reader has none
            (then an agreement cannot be checked and is reported as such).
    """
    try:
        issuer = record["issuer"]
        parties = record["body"]["parties"]
        if owner is not None and owner not in parties:
            return "foreign_issuer", f"an agreement of {parties} in the log of {owner}"
        if keys is None:
            return (
                "unverifiable_agreement",
                "an agreement's parties' signatures need their keys: give the trust list",
            )
        if not any(k.verify(sig, signing) for k in keys.get(issuer, ())):
            return "bad_signature", f"the proposer {issuer}'s signature does not verify"
        verify_agreement(record, keys)
    except AgreementError as exc:
        return exc.code, exc.message
    except (KeyError, TypeError, AttributeError) as exc:
        return "bad_record", f"not an agreement record: {exc!r}"
    return None


def keys_from_raw(pairs: Iterable[tuple[str, bytes]]) -> dict[str, list[PublicKey]]:
    """``{agency: [key, …]}`` from ``(agency, raw public key)`` pairs (as sent to workers)."""
    keys: dict[str, list[PublicKey]] = {}
    for agency, raw in pairs:
        keys.setdefault(agency, []).append(PublicKey(raw))
    return keys


def sign_agreement(record: Mapping[str, Any], agency: str, key: SigningKey) -> dict[str, Any]:
    """A copy of the agreement with ``agency``'s signature added (or replaced).

    When the signer is the proposer (the issuer) and every party has now signed, the
    envelope ``sig`` is made too, over the record with all signatures: the record is then
    ready to publish. Signatures are kept in the order of ``parties``.

    Raises:
        AgreementError: ``not_a_party``.
    """
    parties = list(record["body"]["parties"])
    if agency not in parties:
        raise AgreementError(f"{agency} is not a party to this agreement", code="not_a_party")
    out = {k: v for k, v in record.items() if k != "sig"}
    sig = encode_signature(key.sign(signing_bytes(out)))
    have = {s["issuer"]: s["sig"] for s in record["body"].get("signatures", [])}
    have[agency] = sig
    body = dict(record["body"])
    body["signatures"] = [{"issuer": p, "sig": have[p]} for p in parties if p in have]
    out["body"] = body
    if agency == record["issuer"] and len(have) == len(parties):
        out["sig"] = encode_signature(key.sign(canonicalize(out)))
    return out


def _day(value: dt.date | str) -> str:
    return value.isoformat() if isinstance(value, dt.date) else value


def parties_at(
    record: Mapping[str, Any], withdrawals: Iterable[Mapping[str, Any]], at: dt.date | str
) -> list[str]:
    """The parties still bound on ``at``: those that have not withdrawn with effect on or
    before that date. ``withdrawals`` are withdrawal records (any; those naming other
    agreements, or issued by a non-party, are ignored)."""
    day = _day(at)
    key = {"issuer": record["issuer"], "id": record["id"]}
    parties = record["body"]["parties"]
    gone = {
        w["issuer"]
        for w in withdrawals
        if w["body"]["agreement"] == key
        and w["issuer"] in parties
        and w["body"]["effective"] <= day
    }
    return [p for p in parties if p not in gone]


def in_force(
    record: Mapping[str, Any], withdrawals: Iterable[Mapping[str, Any]], at: dt.date | str
) -> bool:
    """Whether the agreement binds at least two parties on ``at``: on or after
    ``in_force_from``, before ``until`` (when set), and not withdrawn from below two."""
    day = _day(at)
    body = record["body"]
    if day < body["in_force_from"]:
        return False
    if body.get("until") is not None and day >= body["until"]:
        return False
    return len(parties_at(record, withdrawals, day)) >= MIN_PARTIES


def check_withdrawal(withdrawal: Mapping[str, Any], agreement: Mapping[str, Any]) -> None:
    """A withdrawal must name this agreement and come from one of its parties.

    Raises:
        AgreementError: ``not_a_party`` or ``unknown_target``.
    """
    named = withdrawal["body"]["agreement"]
    if agreement.get("type") != "agreement" or named != {
        "issuer": agreement["issuer"],
        "id": agreement["id"],
    }:
        raise AgreementError(
            f"record {named.get('id')!r} of {named.get('issuer')!r} is not that agreement",
            code="unknown_target",
            field="body.agreement",
        )
    if withdrawal["issuer"] not in agreement["body"]["parties"]:
        raise AgreementError(
            f"{withdrawal['issuer']} is not a party to {named['id']!r}",
            code="not_a_party",
            field="issuer",
        )


__all__ = [
    "FORMAT",
    "MAX_PARTIES",
    "MIN_PARTIES",
    "SignatureCheck",
    "check_signatures",
    "check_terms",
    "check_withdrawal",
    "entry_problem",
    "in_force",
    "keys_from_raw",
    "parties_at",
    "sign_agreement",
    "signing_bytes",
    "verify_agreement",
]
