"""The trust list: versions signed by a threshold of the previous and of their own members."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pel.crypto.cosignature import CosignatureSigner, MLDSACosignatureSigner
from pel.crypto.keys import SigningKey
from pel.crypto.mldsa import MLDSASigningKey
from pel.crypto.note import NoteSigner
from pel.ledger.errors import TrustListError
from pel.ledger.federation.trust_list import (
    Member,
    SignedTrustList,
    TrustList,
    follow_chain,
    new_version,
    verify_next,
)


@dataclass
class Agency:
    member: Member
    issuer: SigningKey


def agency(agency_id: str, country: str) -> Agency:
    issuer, log, witness = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    origin = f"{agency_id.lower()}.example/log"
    return Agency(
        Member(
            agency=agency_id,
            country=country,
            name=f"{agency_id} agency",
            role="both",
            origin=origin,
            url=f"http://{agency_id.lower()}.example",
            log_key=NoteSigner(origin, log).vkey,
            issuer_key=issuer.public_key.to_base64(),
            witness_key=CosignatureSigner(f"{agency_id.lower()}.example/witness", witness).vkey,
            witness_mldsa_key=MLDSACosignatureSigner(
                f"{agency_id.lower()}.example/witness", MLDSASigningKey.generate()
            ).vkey,
        ),
        issuer,
    )


@pytest.fixture
def four() -> list[Agency]:
    return [
        agency("TH-SSO", "TH"),
        agency("MY-PERKESO", "MY"),
        agency("SG-CPF", "SG"),
        agency("PH-SSS", "PH"),
    ]


def genesis(agencies: list[Agency], threshold: int | None = None) -> SignedTrustList:
    tl = TrustList(
        federation="asean.example",
        version=1,
        members=tuple(a.member for a in agencies),
        witness_quorum=2,
        threshold=threshold or len(agencies),
    )
    signed = SignedTrustList(tl)
    for a in agencies:
        signed = signed.sign(a.member.agency, a.issuer)
    return signed


def test_genesis_and_round_trip(four: list[Agency]) -> None:
    g = genesis(four)
    assert verify_next(g, None) == g.trust_list
    again = SignedTrustList.from_json(g.to_json())
    assert again.trust_list == g.trust_list and again.signatures == g.signatures
    assert follow_chain(g.trust_list.digest(), [again]).version == 1


def test_too_few_signatures_are_refused(four: list[Agency]) -> None:
    g = genesis(four)
    short = SignedTrustList(g.trust_list, g.signatures[:3])
    with pytest.raises(TrustListError, match="3 of its own members"):
        verify_next(short, None)
    nxt = new_version(g.trust_list, witness_quorum=3)
    signed = SignedTrustList(nxt)
    for a in four[:3]:
        signed = signed.sign(a.member.agency, a.issuer)
    with pytest.raises(TrustListError, match="3 of version 1's members; 4 are needed"):
        follow_chain(g.trust_list.digest(), [g, signed])
    signed = signed.sign(four[3].member.agency, four[3].issuer)
    assert follow_chain(g.trust_list.digest(), [g, signed]).witness_quorum == 3


def test_key_rotation_needs_old_and_new_keys(four: list[Agency]) -> None:
    g = genesis(four)
    new_key = SigningKey.generate()
    th = four[0].member.model_copy(update={"issuer_key": new_key.public_key.to_base64()})
    v2 = new_version(g.trust_list, members=[th, *(a.member for a in four[1:])])
    old_only = SignedTrustList(v2)
    for a in four:
        old_only = old_only.sign(a.member.agency, a.issuer)
    # TH's old key counts for version 1's threshold, but version 2 lists its new key.
    with pytest.raises(TrustListError, match="3 of its own members"):
        verify_next(old_only, g.trust_list)
    new_only = SignedTrustList(v2)
    for a in four[1:]:
        new_only = new_only.sign(a.member.agency, a.issuer)
    new_only = new_only.sign("TH-SSO", new_key)
    with pytest.raises(TrustListError, match="3 of version 1's members"):
        verify_next(new_only, g.trust_list)
    both = old_only.sign("TH-SSO", new_key)
    latest = follow_chain(g.trust_list.digest(), [g, SignedTrustList.from_json(both.to_json())])
    assert latest.member("TH-SSO").issuer_public_key == new_key.public_key  # type: ignore[union-attr]
    # A signature by a key the list does not name for that agency counts for nothing.
    forged = SignedTrustList(v2)
    for a in four[1:]:
        forged = forged.sign(a.member.agency, a.issuer)
    forged = forged.sign("TH-SSO", SigningKey.generate())
    assert forged.signers(g.trust_list) == {"MY-PERKESO", "SG-CPF", "PH-SSS"}


def test_removing_a_member(four: list[Agency]) -> None:
    g = genesis(four)
    nxt = new_version(g.trust_list, members=[a.member for a in four[:3]])
    assert nxt.threshold == 3
    signed = SignedTrustList(nxt)
    for a in four:
        signed = signed.sign(a.member.agency, a.issuer)
    latest = follow_chain(g.trust_list.digest(), [g, signed])
    assert latest.member("PH-SSS") is None and latest.member("TH-SSO") is not None


def test_chain_rules(four: list[Agency]) -> None:
    g = genesis(four)
    with pytest.raises(TrustListError, match="pinned genesis"):
        follow_chain("00" * 32, [g])
    nxt = new_version(g.trust_list, witness_quorum=1)
    wrong_prev = nxt.model_copy(update={"previous": "ab" * 32})
    s = SignedTrustList(wrong_prev)
    for a in four:
        s = s.sign(a.member.agency, a.issuer)
    with pytest.raises(TrustListError, match="digest"):
        verify_next(s, g.trust_list)
    skip = nxt.model_copy(update={"version": 3})
    s = SignedTrustList(skip)
    for a in four:
        s = s.sign(a.member.agency, a.issuer)
    with pytest.raises(TrustListError, match="does not follow"):
        verify_next(s, g.trust_list)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: {"origin": m[1].origin}, "appears twice"),
        (lambda m: {"issuer_key": m[1].issuer_key}, "used twice"),
        (lambda m: {"log_key": m[0].witness_key}, "Ed25519 note key"),
        (lambda m: {"witness_key": m[0].log_key}, "cosignature/v1"),
        (lambda m: {"log_key": "not a key"}, "member TH-SSO"),
    ],
)
def test_document_rules(four: list[Agency], change, message: str) -> None:  # type: ignore[no-untyped-def]
    members = [a.member for a in four]
    members[0] = members[0].model_copy(update=change(members))
    with pytest.raises(TrustListError, match=message):  # a list that breaks them is not made
        TrustList(federation="f", version=1, members=tuple(members), witness_quorum=1, threshold=4)


def test_from_json_refuses_bad_documents(four: list[Agency]) -> None:
    g = genesis(four)
    text = g.to_json()
    for bad in (
        "[]",
        "{",
        text.replace('"witness_quorum": 2', '"witness_quorum": "2"'),
        text.replace('"role": "both"', '"role": "all"', 1),
        text.replace('"threshold": 4', '"threshold": 4, "extra": 1'),
    ):
        with pytest.raises(TrustListError):
            SignedTrustList.from_json(bad)


def test_policy_export(four: list[Agency]) -> None:
    tl = genesis(four).trust_list
    policy = tl.policy("th-sso.example/log").splitlines()
    assert policy[1] == f"log {four[0].member.log_key} http://th-sso.example"
    witnesses = [line.split() for line in policy if line.startswith("witness ")]
    assert [w[1] for w in witnesses] == [
        f"{a}/{kind}"
        for a in ("MY-PERKESO", "SG-CPF", "PH-SSS")
        for kind in ("ed25519", "ml-dsa-44")
    ]
    # Both keys of each witness, as the trust list lists them.
    assert witnesses[0][2] == four[1].member.witness_key
    assert witnesses[1][2] == four[1].member.witness_mldsa_key
    # The default policy counts a witness only with both keys: each member is an "all" group.
    assert "group MY-PERKESO all MY-PERKESO/ed25519 MY-PERKESO/ml-dsa-44" in policy
    assert policy[-2:] == ["group members 2 MY-PERKESO SG-CPF PH-SSS", "quorum members"]
    either = new_version(tl, cosigner_policy="either").policy("th-sso.example/log")
    assert "group MY-PERKESO any MY-PERKESO/ed25519 MY-PERKESO/ml-dsa-44\n" in either
    with pytest.raises(TrustListError):
        tl.policy("nobody.example/log")
