"""Proposing a trust list's next version: members removed, added or replaced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pel.ledger.errors import TrustListError
from pel.ledger.federation.trust_list import Member, TrustList, propose_version
from tests.ledger.test_federation import Agency, agency, genesis


@pytest.fixture
def three() -> list[Agency]:
    return [agency("TH-SSO", "TH"), agency("MY-PERKESO", "MY"), agency("SG-CPF", "SG")]


@pytest.fixture
def current(three: list[Agency]) -> TrustList:
    return genesis(three, threshold=2).trust_list


def _agencies(tl: TrustList) -> list[str]:
    return [m.agency for m in tl.members]


def test_adding_a_member_asks_everyone_to_sign(current: TrustList) -> None:
    ph = agency("PH-SSS", "PH").member
    nxt = propose_version(current, add=[ph])
    assert _agencies(nxt) == ["TH-SSO", "MY-PERKESO", "SG-CPF", "PH-SSS"]
    assert (nxt.version, nxt.previous, nxt.threshold) == (2, current.digest(), 4)
    assert nxt.witness_quorum == current.witness_quorum


def test_removing_a_member(current: TrustList) -> None:
    nxt = propose_version(current, remove=["MY-PERKESO"], threshold=1, witness_quorum=1)
    assert _agencies(nxt) == ["TH-SSO", "SG-CPF"] and nxt.threshold == 1
    with pytest.raises(TrustListError, match="PH-SSS is not a member"):
        propose_version(current, remove=["PH-SSS"])


def test_removing_every_member_is_a_trust_list_error(current: TrustList) -> None:
    with pytest.raises(TrustListError) as exc:
        propose_version(current, remove=["TH-SSO", "MY-PERKESO", "SG-CPF"])
    assert exc.value.code == "bad_trust_list" and "members" in exc.value.message


def test_an_added_member_replaces_the_one_with_its_agency_id(current: TrustList) -> None:
    rotated = agency("MY-PERKESO", "MY").member
    nxt = propose_version(current, add=[rotated])
    assert _agencies(nxt) == ["TH-SSO", "MY-PERKESO", "SG-CPF"]
    assert nxt.member("MY-PERKESO") == rotated and nxt.threshold == 3  # a change: all sign


def test_removed_then_added_again_is_a_change(current: TrustList) -> None:
    again = agency("SG-CPF", "SG").member
    nxt = propose_version(current, remove=["SG-CPF"], add=[again])
    assert _agencies(nxt) == ["TH-SSO", "MY-PERKESO", "SG-CPF"] and nxt.threshold == 3


def test_no_member_change_keeps_members_and_threshold(current: TrustList) -> None:
    nxt = propose_version(current, witness_quorum=1)
    assert nxt.members == current.members
    assert (nxt.threshold, nxt.witness_quorum) == (2, 1)


def test_removals_are_checked_before_any_member_is_read(current: TrustList) -> None:
    def members() -> Iterator[Member]:
        raise AssertionError("read before the removals were checked")
        yield  # pragma: no cover

    with pytest.raises(TrustListError, match="is not a member"):
        propose_version(current, remove=["PH-SSS"], add=members())


def test_a_version_that_does_not_check_is_refused(current: TrustList) -> None:
    with pytest.raises(TrustListError, match="witness quorum 2"):
        propose_version(current, remove=["SG-CPF"])  # the quorum of 2 needs 3 members
