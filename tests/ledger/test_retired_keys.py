"""Keys rotated out stay valid for what they signed within their period, and for nothing
after it: issuer keys by a record's ``issued_at``, witness and log keys by the
cosignatures' timestamps (the witnesses of the bundle kit cosign at 1_700_000_000)."""

from __future__ import annotations

import pytest

from pel.crypto.cosignature import CosignatureSigner
from pel.crypto.keys import SigningKey
from pel.crypto.note import NoteSigner
from pel.ledger.bundles.bundle import build_bundle, verify_bundle
from pel.ledger.errors import BundleError, TrustListError
from pel.ledger.federation.trust_list import Member, RetiredKey, TrustList
from tests import factories as f
from tests.bundle_kit import Kit

AGENCY = "TH-SSO"
STAMP = "2023-11-14T22:13:20Z"  # 1_700_000_000, when the kit's witnesses cosign


def rotate(kit: Kit, **changes: object) -> TrustList:
    tl = kit.trust_list
    members = tuple(m.model_copy(update=changes) if m.agency == AGENCY else m for m in tl.members)
    return TrustList(**{**dict(tl), "members": members})


def signed_bundle(kit: Kit, tl: TrustList, issued_at: str) -> bytes:
    kit.append(AGENCY, f.contribution(body={"currency": "THB"}, issued_at=issued_at))
    entries = kit.entries(AGENCY)
    return build_bundle(entries[0].record["pwid"], tl, entries).to_bytes()


@pytest.mark.parametrize(
    ("issued_at", "until", "want"),
    [
        ("2026-11-01T09:00:00Z", "2026-11-01T09:00:01Z", None),  # within the period
        ("2026-11-01T09:00:00Z", "2026-11-01T09:00:00Z", "retired_key"),  # at its end
        ("2026-12-01T09:00:00Z", "2026-11-01T09:00:00Z", "retired_key"),  # after it
    ],
)
def test_a_retired_issuer_key_holds_only_within_its_period(
    issued_at: str, until: str, want: str | None
) -> None:
    kit = Kit()
    old = kit.trust_list.member(AGENCY)
    assert old is not None
    new = SigningKey.generate()
    tl = rotate(
        kit,
        issuer_key=new.public_key.to_base64(),
        retired_keys=(RetiredKey(role="issuer", key=old.issuer_key, valid_until=until),),
    )
    raw = signed_bundle(kit, tl, issued_at)  # signed with the old key
    if want is None:
        assert verify_bundle(raw, tl).records
    else:
        with pytest.raises(BundleError) as refused:
            verify_bundle(raw, tl)
        assert refused.value.code == want
    # Without the retired key listed at all, the old signature is simply bad.
    bare = rotate(kit, issuer_key=new.public_key.to_base64())
    with pytest.raises(BundleError) as refused:
        verify_bundle(signed_bundle(kit, bare, issued_at), bare)
    assert refused.value.code == "bad_record_signature"


@pytest.mark.parametrize(("until", "ok"), [("2023-11-14T22:13:21Z", True), (STAMP, False)])
def test_a_retired_log_key_holds_for_checkpoints_cosigned_before_its_retirement(
    until: str, ok: bool
) -> None:
    kit = Kit()
    old = kit.trust_list.member(AGENCY)
    assert old is not None
    new = NoteSigner(old.origin, SigningKey.generate())
    tl = rotate(
        kit,
        log_key=new.vkey,
        retired_keys=(RetiredKey(role="log", key=old.log_key, valid_until=until),),
    )
    raw = signed_bundle(kit, tl, "2023-11-14T00:00:00Z")  # its checkpoint signed by the old log key
    if ok:
        assert verify_bundle(raw, tl).records
    else:
        with pytest.raises(BundleError) as refused:
            verify_bundle(raw, tl)
        assert refused.value.code == "retired_key"


@pytest.mark.parametrize(("until", "ok"), [("2023-11-14T22:13:21Z", True), (STAMP, False)])
def test_a_retired_witness_key_counts_for_cosignatures_made_before_its_retirement(
    until: str, ok: bool
) -> None:
    kit = Kit(quorum=2)
    m = kit.trust_list.member("MM-SSB")
    assert m is not None
    fresh = CosignatureSigner(m.witness_verifier.name, SigningKey.generate())
    retired = RetiredKey(role="witness", key=m.witness_key, valid_until=until)
    members = tuple(
        x.model_copy(update={"witness_key": fresh.vkey, "retired_keys": (retired,)})
        if x.agency == "MM-SSB"
        else x
        for x in kit.trust_list.members
    )
    tl = TrustList(**{**dict(kit.trust_list), "members": members})
    raw = signed_bundle(kit, tl, "2023-11-14T00:00:00Z")  # MM-SSB cosigned with its old key
    if ok:
        assert verify_bundle(raw, tl).records
    else:
        with pytest.raises(BundleError) as refused:
            verify_bundle(raw, tl)
        assert refused.value.code == "bad_cosignature"


def test_retired_keys_are_checked_when_the_list_is_made() -> None:
    kit = Kit()
    old = kit.trust_list.member(AGENCY)
    assert isinstance(old, Member)
    with pytest.raises(TrustListError, match="also listed as retired"):
        rotate(
            kit, retired_keys=(RetiredKey(role="issuer", key=old.issuer_key, valid_until=STAMP),)
        )
    with pytest.raises(TrustListError):
        rotate(kit, retired_keys=(RetiredKey(role="log", key="not a key", valid_until=STAMP),))
