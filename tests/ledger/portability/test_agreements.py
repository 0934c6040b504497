"""Agreements: every party signs the same bytes; a missing or bad signature is refused;
dates in force and withdrawals."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pel.crypto.keys import SigningKey
from pel.ledger.errors import AgreementError, RecordError
from pel.ledger.portability.agreements import (
    check_signatures,
    entry_problem,
    in_force,
    parties_at,
    sign_agreement,
    signing_bytes,
    verify_agreement,
)
from pel.ledger.records import validate_record

PARTIES = ["TH-SSO", "MY-PERKESO", "MM-SSB"]
KEYS = {p: SigningKey.from_seed(bytes([i]) * 32) for i, p in enumerate(PARTIES, 1)}
PUBLIC = {p: [k.public_key] for p, k in KEYS.items()}


def draft(**body: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "agreement",
        "issuer": "TH-SSO",
        "id": "agreement-th-my-mm",
        "issued_at": "2026-12-01T00:00:00Z",
        "body": {
            "format": "pel-agreement/v1",
            "parties": PARTIES,
            "branches": ["old_age", "invalidity"],
            "totalisation": True,
            "minimum_period_months": 12,
            "export": True,
            "in_force_from": "2027-01-01",
            "until": None,
            "legal_text": {"title": "Test agreement", "url": "https://example.org/a"},
            "signatures": [],
            **body,
        },
    }


def signed_by(*parties: str, record: dict[str, Any] | None = None) -> dict[str, Any]:
    record = record or draft()
    for p in parties:
        record = sign_agreement(record, p, KEYS[p])
    return record


def test_all_three_sign_and_the_proposer_seals() -> None:
    record = signed_by("MY-PERKESO", "MM-SSB")
    assert "sig" not in record
    record = signed_by("TH-SSO", record=record)
    assert "sig" in record  # the proposer, last, sealed it
    assert [s["issuer"] for s in record["body"]["signatures"]] == PARTIES
    validate_record(record)
    verify_agreement(record, PUBLIC)
    assert check_signatures(record, PUBLIC).ok


def test_two_of_three_is_refused() -> None:
    record = signed_by("TH-SSO", "MY-PERKESO")
    with pytest.raises(AgreementError) as exc:
        verify_agreement(record, PUBLIC)
    assert exc.value.code == "missing_party_signature" and "MM-SSB" in exc.value.message


def test_a_signature_over_other_terms_is_refused() -> None:
    record = signed_by("MY-PERKESO", "MM-SSB", "TH-SSO")
    changed = copy.deepcopy(record)
    changed["body"]["export"] = False
    assert signing_bytes(changed) != signing_bytes(record)
    with pytest.raises(AgreementError) as exc:
        verify_agreement(changed, PUBLIC)
    assert exc.value.code == "bad_party_signature"
    # A party's key the verifier does not know.
    with pytest.raises(AgreementError) as exc:
        verify_agreement(record, {p: k for p, k in PUBLIC.items() if p != "MM-SSB"})
    assert exc.value.code == "unknown_party"


def test_terms_checked_by_the_record_schema() -> None:
    with pytest.raises(RecordError) as exc:
        validate_record(draft(parties=["TH-SSO"]), signed=False)
    assert exc.value.field == "body.parties"
    with pytest.raises(RecordError) as exc:
        validate_record({**draft(), "issuer": "MY-PERKESO"}, signed=False)
    assert exc.value.code == "bad_parties"
    with pytest.raises(RecordError) as exc:
        validate_record(draft(until="2026-01-01"), signed=False)
    assert exc.value.code == "bad_dates"
    with pytest.raises(AgreementError):
        sign_agreement(draft(), "SG-CPF", KEYS["TH-SSO"])


def test_entry_problem_as_a_mirror_or_auditor_sees_it() -> None:
    from pel.crypto.record import record_signature, record_signing_bytes

    record = signed_by("MY-PERKESO", "MM-SSB", "TH-SSO")
    sig, signing = record_signature(record), record_signing_bytes(record)
    assert entry_problem(record, signing, sig, owner="MM-SSB", keys=PUBLIC) is None
    assert entry_problem(record, signing, sig, owner="SG-CPF", keys=PUBLIC)[0] == "foreign_issuer"  # type: ignore[index]
    assert entry_problem(record, signing, sig, owner="MM-SSB", keys=None)[0] == (  # type: ignore[index]
        "unverifiable_agreement"
    )
    bad = sign_agreement(draft(), "MY-PERKESO", KEYS["MY-PERKESO"])  # one party only
    bad["sig"] = record["sig"]
    problem = entry_problem(bad, record_signing_bytes(bad), sig, owner="MM-SSB", keys=PUBLIC)
    assert problem is not None and problem[0] == "bad_signature"


def test_in_force_and_withdrawal() -> None:
    record = signed_by("MY-PERKESO", "MM-SSB", "TH-SSO")
    record_until = signed_by("MY-PERKESO", "MM-SSB", "TH-SSO", record=draft(until="2030-01-01"))
    assert not in_force(record, [], "2026-12-31")
    assert in_force(record, [], "2027-01-01")
    assert in_force(record_until, [], "2029-12-31") and not in_force(record_until, [], "2030-01-01")

    def withdrawal(issuer: str, effective: str) -> dict[str, Any]:
        return {
            "issuer": issuer,
            "type": "withdrawal",
            "body": {"agreement": {"issuer": "TH-SSO", "id": record["id"]}, "effective": effective},
        }

    my = withdrawal("MY-PERKESO", "2028-01-01")
    assert parties_at(record, [my], "2027-12-31") == PARTIES
    assert parties_at(record, [my], "2028-01-01") == ["TH-SSO", "MM-SSB"]
    assert in_force(record, [my], "2028-06-01")  # two parties remain
    mm = withdrawal("MM-SSB", "2029-01-01")
    assert not in_force(record, [my, mm], "2029-01-01")
    outsider = withdrawal("SG-CPF", "2027-06-01")
    assert parties_at(record, [outsider], "2028-01-01") == PARTIES
