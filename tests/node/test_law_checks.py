"""What a mirror and an auditor make of an agreement in another member's log: accepted when
every party signed it, refused when one did not or when the log's owner is no party."""

from __future__ import annotations

from typing import Any

from pel.crypto.jcs import canonicalize
from pel.crypto.keys import SigningKey
from pel.crypto.record import sign_record
from pel.ledger.federation.mirror_entry_check import check_records_of
from pel.ledger.portability.agreements import sign_agreement
from pel.node.peers.remote_verify import check_records
from tests.ledger.portability.test_agreements import KEYS, PARTIES, draft

RAW = tuple((p, k.public_key.raw) for p, k in KEYS.items())
MM = KEYS["MM-SSB"]


def entry(record: dict[str, Any]) -> bytes:
    return canonicalize(record)


def full() -> dict[str, Any]:
    record = draft()
    for p in (*PARTIES[1:], PARTIES[0]):
        record = sign_agreement(record, p, KEYS[p])
    return record


def test_a_mirror_takes_an_agreement_every_party_signed() -> None:
    got = check_records_of([entry(full())], 0, "ssb.gov.mm/pel", "MM-SSB", MM.public_key.raw, RAW)
    assert got == [("agreement-th-my-mm", "", "agreement")]


def test_a_mirror_refuses_two_of_three_or_a_log_that_is_no_party() -> None:
    two = draft()
    for p in ("MY-PERKESO", "TH-SSO"):
        two = sign_agreement(two, p, KEYS[p])
    two = sign_record(two, KEYS["TH-SSO"])
    got = check_records_of([entry(two)], 0, "ssb.gov.mm/pel", "MM-SSB", MM.public_key.raw, RAW)
    assert isinstance(got, tuple) and got[0] == "missing_party_signature"
    other = SigningKey.generate()
    got = check_records_of(
        [entry(full())], 5, "cpf.gov.sg/pel", "SG-CPF", other.public_key.raw, RAW
    )
    assert isinstance(got, tuple) and got[0] == "foreign_issuer" and "entry 5" in got[1]
    # Without the members' keys, another agency's record is still refused.
    got = check_records_of([entry(full())], 0, "ssb.gov.mm/pel", "MM-SSB", MM.public_key.raw)
    assert isinstance(got, tuple)


def test_an_auditor_checks_every_party() -> None:
    assert check_records(MM.public_key.raw, [entry(full())], 0, "MM-SSB", RAW) is None
    bad = full()
    bad["body"]["signatures"][2]["sig"] = bad["body"]["signatures"][1]["sig"]
    bad = sign_record(bad, KEYS["TH-SSO"])
    problem = check_records(MM.public_key.raw, [entry(bad)], 7, "MM-SSB", RAW)
    assert problem is not None and problem[:2] == (7, "bad_party_signature")
    # Without the trust list, an agreement another party proposed is not this log's record.
    problem = check_records(MM.public_key.raw, [entry(full())], 0, "MM-SSB", None)
    assert problem is not None and problem[1] == "foreign_issuer"
