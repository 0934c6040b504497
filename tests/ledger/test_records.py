"""Record validation: every record type, and every refusal's stable code."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pel.ledger.errors import RecordError, TileError
from pel.ledger.merkle.tiles import encode_entry_bundle
from pel.ledger.records import MAX_ENTRY_BYTES, check_entry_size, encode_entry, validate_record
from pel.node.demo.synth import synth_drafts
from tests import factories as f


def ok(rec: dict[str, Any]) -> None:
    validate_record(f.with_issuer(rec), signed=False)


def refused(rec: dict[str, Any], code: str, field: str | None = None) -> RecordError:
    with pytest.raises(RecordError) as info:
        validate_record(rec, signed=False)
    assert info.value.code == code, info.value.to_dict()
    if field is not None:
        assert info.value.field == field
    assert info.value.message  # a person-readable message
    return info.value


@pytest.mark.parametrize("make", [f.contribution, f.enrolment, f.entitlement])
def test_valid_types(make: Any) -> None:
    ok(make())


def test_amendment_and_revocation_valid() -> None:
    target = f.contribution()
    ok(f.amendment(target))
    ok(f.revocation(target))


def test_synthetic_drafts_are_all_valid() -> None:
    drafts = list(synth_drafts("TH-SSO", 600, seed=3))
    assert len(drafts) == 600
    assert {d["type"] for d in drafts} >= {"contribution", "enrolment"}
    for d in drafts:
        ok(d)


BASE = f.with_issuer(f.contribution())


def mutate(path: str, value: Any, *, delete: bool = False) -> dict[str, Any]:
    rec = copy.deepcopy(BASE)
    *parents, leaf = path.split(".")
    node = rec
    for p in parents:
        node = node[p]
    if delete:
        del node[leaf]
    else:
        node[leaf] = value
    return rec


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        ("type", "pension", "unknown_type"),
        ("extra", 1, "unknown_field"),
        ("body.extra", "x", "unknown_field"),
        ("v", 2, "bad_value"),
        ("v", "1", "bad_value"),
        ("issuer", "perkeso", "bad_agency"),
        ("issuer", "XX-PERKESO", "bad_agency"),
        ("id", "", "bad_record_id"),
        ("id", "has space", "bad_record_id"),
        ("pwid", "Aung San", "bad_pwid"),
        ("pwid", "ZZ-7K3Q9X2M4T8V1B5N", "bad_pwid"),
        ("issued_at", "2026-11-22 10:00:00", "bad_time"),
        ("issued_at", "2026-02-30T10:00:00Z", "bad_time"),
        ("issued_at", "2026-11-22T10:00:00", "bad_time"),
        ("body.period", "2026-13", "bad_period"),
        ("body.period", "2026/10", "bad_period"),
        ("body.insured_earnings", 2450.0, "wrong_type"),
        ("body.insured_earnings", "2,450.00", "bad_money"),
        ("body.insured_earnings", "-5.00", "bad_money"),
        ("body.insured_earnings", "1e3", "bad_money"),
        ("body.insured_earnings", "01.00", "bad_money"),
        ("body.currency", "RM", "bad_currency"),
        ("body.currency", "XYZ", "bad_currency"),
        ("body.contributions", {}, "bad_length"),
        ("body.contributions", {"pension": "1.00"}, "bad_value"),
        ("body.contributions", {"old_age": 1}, "wrong_type"),
        ("body.employer", "A", "bad_pseudonym"),
    ],
)
def test_refusals_have_stable_codes(path: str, value: Any, code: str) -> None:
    refused(mutate(path, value), code)


@pytest.mark.parametrize("path", ["id", "pwid", "body", "body.period", "type", "issued_at"])
def test_missing_fields(path: str) -> None:
    refused(mutate(path, None, delete=True), "missing_field")


def test_not_an_object_and_signature_rules() -> None:
    refused([1], "not_an_object")  # type: ignore[arg-type]
    with pytest.raises(RecordError) as info:
        validate_record(BASE, signed=True)
    assert info.value.code == "missing_signature"
    with pytest.raises(RecordError) as info:
        validate_record({**BASE, "sig": "x"}, signed=False)
    assert info.value.code == "unexpected_signature"


def test_entitlement_and_enrolment_refusals() -> None:
    ent = f.with_issuer(f.entitlement())
    ent["body"]["exportable"] = "yes"
    refused(ent, "wrong_type")
    ent = f.with_issuer(f.entitlement())
    ent["body"]["start_date"] = "2026-12-32"
    refused(ent, "bad_date")
    enr = f.with_issuer(f.enrolment())
    enr["body"]["commitment"] = "bm90IGEgZGlnZXN0"
    refused(enr, "bad_commitment")
    enr = f.with_issuer(f.enrolment())
    enr["body"]["name"] = "Aung San"
    refused(enr, "unknown_field")


def test_amendment_body_checked_against_target_type() -> None:
    target = f.contribution()
    amend = f.with_issuer(f.amendment(target))
    amend["body"]["body"]["period"] = "2026-99"
    refused(amend, "bad_period")
    amend = f.with_issuer(f.amendment(target))
    amend["body"]["reason"] = "because the worker is called Aung"
    refused(amend, "bad_value")


def test_cannot_amend_another_agencys_record() -> None:
    target = f.contribution()
    refused(f.with_issuer(f.revocation(target, issuer="TH-SSO")), "foreign_target")


def test_entry_is_canonical_and_bounded() -> None:
    rec = {**BASE, "sig": "x"}
    reordered = dict(reversed(list(rec.items())))
    assert encode_entry(rec) == encode_entry(reordered)
    assert encode_entry(rec).startswith(b'{"body":')
    big = copy.deepcopy(rec)
    big["body"]["employer"] = "E" * (MAX_ENTRY_BYTES + 1)
    with pytest.raises(RecordError) as info:
        encode_entry(big)
    assert info.value.code == "record_too_large"


def test_one_entry_size_limit_for_records_and_entry_bundles() -> None:
    # A record the gate accepts always fits an entry bundle, and one byte more fits neither.
    largest = b"x" * MAX_ENTRY_BYTES
    assert check_entry_size(largest) == largest
    assert encode_entry_bundle([largest])[2:] == largest
    with pytest.raises(RecordError):
        check_entry_size(largest + b"x")
    with pytest.raises(TileError):
        encode_entry_bundle([largest + b"x"])
