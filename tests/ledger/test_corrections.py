"""The one rule of corrections (``ledger.records.corrections``), worked by hand: the
decision engine applies it leniently, the bundle verifier strictly."""

from __future__ import annotations

from typing import Any

import pytest

from pel.ledger.errors import CorrectionError
from pel.ledger.records.corrections import resolve

LOG = "th-sso.example/pel"


def contribution(rid: str, earnings: str = "100.00") -> dict[str, Any]:
    return {"type": "contribution", "issuer": "TH-SSO", "id": rid,
            "body": {"period": "2030-01", "insured_earnings": earnings}}  # fmt: skip


def amendment(rid: str, target: str, earnings: str, kind: str = "contribution") -> dict[str, Any]:
    return {"type": "amendment", "issuer": "TH-SSO", "id": rid,
            "body": {"target": {"issuer": "TH-SSO", "id": target}, "target_type": kind,
                     "body": {"period": "2030-01", "insured_earnings": earnings}}}  # fmt: skip


def revocation(rid: str, target: str) -> dict[str, Any]:
    return {"type": "revocation", "issuer": "TH-SSO", "id": rid,
            "body": {"target": {"issuer": "TH-SSO", "id": target}}}  # fmt: skip


def places(n: int, origin: str = LOG) -> list[tuple[str, int]]:
    return [(origin, i) for i in range(n)]


def test_no_correction_leaves_every_record_valid() -> None:
    records = [contribution("c1"), contribution("c2")]
    status, body, fixes = resolve(records, places(2))
    assert status == ["valid", "valid"]
    assert body == [records[0]["body"], records[1]["body"]]
    assert fixes == {}


def test_the_newest_standing_amendment_wins() -> None:
    records = [contribution("c1"), amendment("a1", "c1", "200.00"), amendment("a2", "c1", "300.00")]
    status, body, fixes = resolve(records, places(3))
    assert status[0] == "amended"
    assert body[0]["insured_earnings"] == "300.00"
    assert fixes == {0: [2, 1]}  # newest first


def test_a_revoked_amendment_changes_nothing() -> None:
    records = [contribution("c1"), amendment("a1", "c1", "200.00"), revocation("r1", "a1")]
    status, body, fixes = resolve(records, places(3))
    assert status == ["valid", "revoked", "valid"]
    assert body[0]["insured_earnings"] == "100.00"
    assert fixes == {1: [2]}


def test_a_revocation_after_an_amendment_withdraws_the_record() -> None:
    records = [contribution("c1"), amendment("a1", "c1", "200.00"), revocation("r1", "c1")]
    status, _, fixes = resolve(records, places(3))
    assert status[0] == "revoked"
    assert fixes == {0: [2, 1]}


def test_a_revoked_revocation_withdraws_nothing() -> None:
    records = [contribution("c1"), revocation("r1", "c1"), revocation("r2", "r1")]
    status, _, fixes = resolve(records, places(3))
    assert status == ["valid", "revoked", "valid"]
    assert fixes == {1: [2]}


@pytest.mark.parametrize(
    ("records", "where", "code"),
    [
        ([contribution("c1"), revocation("r1", "c9")], places(2), "missing_target"),
        # the target is in another log
        (
            [contribution("c1"), revocation("r1", "c1")],
            [(LOG, 0), ("other/pel", 1)],
            "target_mismatch",
        ),
        # the target comes after the correction in the log
        ([contribution("c1"), revocation("r1", "c1")], [(LOG, 5), (LOG, 1)], "target_mismatch"),
        # an amendment for another type of record than its target's
        (
            [contribution("c1"), amendment("a1", "c1", "9.00", kind="enrolment")],
            places(2),
            "target_mismatch",
        ),
    ],
)
def test_a_correction_that_cannot_apply(
    records: list[dict[str, Any]], where: list[tuple[str, int]], code: str
) -> None:
    status, body, fixes = resolve(records, where)  # leniently: it corrects nothing
    assert status == ["valid", "valid"] and fixes == {}
    assert body[0] is records[0]["body"]
    with pytest.raises(CorrectionError) as caught:
        resolve(records, where, strict=True)
    assert caught.value.code == code


def test_records_out_of_log_order_are_walked_in_log_order() -> None:
    # Given newest first, with the order: the same as given in log order.
    in_order = [
        contribution("c1"),
        amendment("a1", "c1", "200.00"),
        amendment("a2", "c1", "300.00"),
    ]
    shuffled = [in_order[2], in_order[0], in_order[1]]
    where = [(LOG, 2), (LOG, 0), (LOG, 1)]
    status, body, fixes = resolve(shuffled, where, order=[1, 2, 0])
    assert status == ["valid", "amended", "valid"]
    assert body[1]["insured_earnings"] == "300.00"
    assert fixes == {1: [0, 2]}  # a2 (position 0), then a1 (position 2)
