"""A bundle may carry the public law a decision needs: rules and agreements, which name no
worker. An agreement counts only when every party signed it, and may be proven in any
party's log, never in another member's."""

from __future__ import annotations

import pytest

from pel.crypto.jcs import canonicalize
from pel.crypto.record import sign_record
from pel.ledger.bundles.bundle import BundleError, build_bundle, summarise, verify_bundle
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.portability.agreements import sign_agreement
from tests import factories as f
from tests.bundle_kit import Kit
from tests.ledger.portability.kit import param, table

PARTIES = ["TH-SSO", "MM-SSB"]


def _agreement(kit: Kit, signers: list[str]) -> dict:
    record = {
        "v": 1,
        "type": "agreement",
        "issuer": "TH-SSO",
        "id": "agreement-1",
        "issued_at": "2026-12-01T00:00:00Z",
        "body": {
            "format": "pel-agreement/v1",
            "parties": PARTIES,
            "branches": ["old_age"],
            "totalisation": True,
            "minimum_period_months": 12,
            "export": True,
            "in_force_from": "2027-01-01",
            "until": None,
            "legal_text": {"title": "Test", "url": "https://example.org/a"},
            "signatures": [],
        },
    }
    for agency in signers:
        record = sign_agreement(record, agency, kit.logs[agency].issuer)
    if "sig" not in record:  # the proposer seals it anyway, short of a party's signature
        record = sign_record(record, kit.logs["TH-SSO"].issuer)
    return record


def _kit(signers: list[str], log: str) -> Kit:
    """A worker's enrolment (MM) and contribution (TH), TH's rules, and an agreement
    signed by ``signers`` in ``log``."""
    kit = Kit()
    kit.append("MM-SSB", f.enrolment(pwid=f.PWID))
    contribution = f.contribution(pwid=f.PWID)
    contribution["body"]["currency"] = "THB"
    kit.append("TH-SSO", contribution)
    rules = table("TH", "THB", qualifying_months=param("months", 180))
    kit.append("TH-SSO", {"v": 1, "type": "rules", "id": "rules-TH",
                          "issued_at": "2026-12-01T00:00:00Z", "body": rules})  # fmt: skip
    agreement = _agreement(kit, signers)
    k = kit.logs[log]  # the same signed record, appended to the given log as it is
    k.tree.append(hash_leaf(canonicalize(agreement)))
    k.records.append(agreement)
    return kit


def _verify(kit: Kit):
    entries = [e for a in kit.logs for e in kit.entries(a)]
    return verify_bundle(build_bundle(f.PWID, kit.trust_list, entries).to_bytes(), kit.trust_list)


def test_a_bundle_carries_rules_and_an_agreement_from_any_party_log() -> None:
    for log in PARTIES:
        report = _verify(_kit(["MM-SSB", "TH-SSO"], log))
        types = {v.type: v.member.agency for v in report.records}
        assert types["agreement"] == log and types["rules"] == "TH-SSO"
        assert set(summarise(report).states) == {"MM", "TH"}  # law is not the worker's record


def test_an_agreement_not_signed_by_every_party_is_refused() -> None:
    with pytest.raises(BundleError) as exc:
        _verify(_kit(["TH-SSO"], "TH-SSO"))
    assert exc.value.code == "bad_agreement"


def test_an_agreement_in_a_non_party_log_is_refused() -> None:
    with pytest.raises(BundleError) as exc:
        _verify(_kit(["MM-SSB", "TH-SSO"], "MY-PERKESO"))
    assert exc.value.code == "wrong_log"
