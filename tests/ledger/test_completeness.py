"""Completeness: a bundle that proves each log's complete list of the worker's indexes
is refused as ``incomplete`` when any one of the worker's records is left out (an
amendment and a revocation among them); absence in a log is proven; a bundle without
those proofs is reported as not proven complete, and refused when completeness is
required."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from pel.crypto.jcs import canonicalize
from pel.ledger.bundles.bundle import Bundle, BundleError, BundleIndex, verify_bundle
from pel.ledger.index import IndexProof
from tests import factories as f
from tests.bundle_kit import Kit

WORKER = f.PWID
OTHER = f.PWID2


def honest() -> tuple[Kit, Bundle]:
    """The worker's records in Myanmar's and Thailand's logs, none in Malaysia's, with
    other workers' records between them; an amendment and a revocation among them."""
    kit = Kit()
    kit.append("MM-SSB", f.enrolment(pwid=WORKER))
    kit.append("MM-SSB", f.enrolment(pwid=OTHER))
    first = kit.append("TH-SSO", f.contribution(pwid=WORKER))
    kit.append("TH-SSO", f.contribution(pwid=OTHER))
    second = kit.append("TH-SSO", f.contribution(pwid=WORKER, body={"period": "2026-11"}))
    kit.append("TH-SSO", f.amendment(first, issuer="TH-SSO"))
    kit.append("TH-SSO", f.contribution(pwid=OTHER))
    kit.append("TH-SSO", f.revocation(second, issuer="TH-SSO"))
    kit.append("MY-PERKESO", f.contribution(pwid=OTHER))
    return kit, kit.bundle(WORKER, complete=True)


def test_an_honest_bundle_is_complete_in_every_log() -> None:
    kit, bundle = honest()
    report = verify_bundle(bundle, kit.trust_list, require_complete=True)
    assert report.unproven == ()
    by_agency = {c.agency: c for c in report.complete}
    assert set(by_agency) == {"MM-SSB", "TH-SSO", "MY-PERKESO"}
    assert by_agency["MM-SSB"].indexes == (0,)
    assert by_agency["TH-SSO"].indexes == (0, 2, 3, 5)
    assert by_agency["MY-PERKESO"].indexes == ()  # absence, proven
    assert by_agency["TH-SSO"].size == 6
    statuses = sorted(r.status for r in report.records)
    assert statuses == ["amended", "revoked", "valid", "valid", "valid"]
    # The bundle survives its canonical form.
    again = Bundle.from_json(bundle.to_json())
    assert again == bundle


def test_dropping_any_one_record_is_refused_as_incomplete() -> None:
    kit, bundle = honest()
    assert len(bundle.records) == 5
    kinds = set()
    for drop in range(len(bundle.records)):
        record = bundle.records[drop].record
        kinds.add(record["type"])
        fewer = replace(bundle, records=bundle.records[:drop] + bundle.records[drop + 1 :])
        with pytest.raises(BundleError) as caught:
            verify_bundle(fewer, kit.trust_list)
        assert caught.value.code == "incomplete", caught.value.message
        origin = kit.logs[record["issuer"]].log.name
        index = next(
            i for i, r in enumerate(kit.logs[record["issuer"]].records) if r["id"] == record["id"]
        )
        assert f"entry {index} of {record['issuer']}'s log ({origin})" in caught.value.message
    assert {"amendment", "revocation", "enrolment", "contribution"} <= kinds


def test_a_list_edited_to_match_a_dropped_record_is_refused() -> None:
    kit, bundle = honest()
    th = next(
        i for i, c in enumerate(bundle.completeness) if c.origin_and_size[0] == "sso.go.th/pel"
    )
    item = bundle.completeness[th]
    revocation = next(r for r in bundle.records if r.record["type"] == "revocation")
    proof = IndexProof.from_json(item.proof)
    edited = IndexProof(proof.size, proof.indexes[:-1], proof.siblings, proof.other)
    items = list(bundle.completeness)
    items[th] = BundleIndex(item.checkpoint, edited.to_json())
    forged = replace(
        bundle,
        records=tuple(r for r in bundle.records if r is not revocation),
        completeness=tuple(items),
    )
    with pytest.raises(BundleError) as caught:
        verify_bundle(forged, kit.trust_list)
    assert caught.value.code == "bad_index_proof"


def test_a_bundle_without_a_logs_proof_is_unproven_and_refused_when_required() -> None:
    kit, bundle = honest()
    without = replace(
        bundle,
        completeness=tuple(
            c for c in bundle.completeness if c.origin_and_size[0] != "sso.go.th/pel"
        ),
    )
    report = verify_bundle(without, kit.trust_list)
    assert report.unproven == ("sso.go.th/pel",)
    with pytest.raises(BundleError) as caught:
        verify_bundle(without, kit.trust_list, require_complete=True)
    assert caught.value.code == "incomplete" and "sso.go.th/pel" in caught.value.message
    plain = kit.bundle(WORKER)
    assert "completeness" not in json.loads(plain.to_json())
    assert len(verify_bundle(plain, kit.trust_list).unproven) == 3


def test_completeness_items_are_checked_like_checkpoints() -> None:
    kit, bundle = honest()
    item = bundle.completeness[0]

    def with_item(new: BundleIndex | dict[str, Any]) -> Any:
        obj = json.loads(bundle.to_json())
        obj["completeness"][0] = new if isinstance(new, dict) else new.to_obj()
        return obj

    cases = {
        "bad_index_proof": BundleIndex(item.checkpoint, {**item.proof, "size": 999}),
        "bad_format": {"checkpoint": item.checkpoint},
    }
    for code, new in cases.items():
        with pytest.raises(BundleError) as caught:
            verify_bundle(canonicalize(with_item(new)), kit.trust_list)
        assert caught.value.code == code
    # A checkpoint cosigned by too few witnesses proves nothing.
    mm = kit.logs["MM-SSB"]
    weak = kit.checkpoint("MM-SSB", cosigners=1)
    items = list(bundle.completeness)
    at = next(i for i, c in enumerate(items) if c.origin_and_size[0] == mm.log.name)
    items[at] = kit.completeness("MM-SSB", WORKER, weak)
    with pytest.raises(BundleError) as caught:
        verify_bundle(replace(bundle, completeness=tuple(items)), kit.trust_list)
    assert caught.value.code == "no_quorum"
