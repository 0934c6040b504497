"""Worker proof bundles: the format, strict offline verification, corrections, summary."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pel.crypto.jcs import canonicalize
from pel.crypto.keys import SigningKey
from pel.crypto.note import NoteSigner, add_signatures, parse_note
from pel.crypto.record import sign_record
from pel.ledger.bundles.bundle import (
    Bundle,
    BundleEntry,
    BundleError,
    build_bundle,
    summarise,
    verify_bundle,
)
from pel.ledger.errors import ProofError
from pel.ledger.federation.trust_list import new_version
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import verify_inclusion
from pel.ledger.tlog.checkpoint import Checkpoint
from pel.ledger.tlog.tlog_proof import HEADER, format_proof, parse_proof
from tests import factories as f
from tests.bundle_kit import Kit

PWID = f.PWID


def _amend(kit: Kit, target: dict, earnings: str) -> dict:
    rec = f.amendment(target, issuer="TH-SSO")
    rec["body"]["body"]["insured_earnings"] = earnings
    return kit.append("TH-SSO", rec)


def _only(kit: Kit, pwid: str = PWID) -> Bundle:
    """The pwid's bundle: every log's records of that pwid, each log's checkpoint."""
    entries = []
    for agency, log in kit.logs.items():
        note = kit.checkpoint(agency)
        for i, r in enumerate(log.records):
            if r["pwid"] == pwid:
                entries.append(kit.entries(agency, note)[i])
    return build_bundle(pwid, kit.trust_list, entries)


@pytest.fixture(scope="module")
def kit() -> Kit:
    k = Kit()
    th = {"currency": "THB", "contributions": {"old_age": "450.00", "sickness": "150.00"}}
    k.append("MM-SSB", f.enrolment())
    k.append("TH-SSO", f.contribution(pwid=f.PWID2, body=th))
    months = {}
    for month in ("2026-07", "2026-08", "2026-09"):
        body = {**th, "period": month, "insured_earnings": "15000.00"}
        months[month] = k.append("TH-SSO", f.contribution(body=body))
    _amend(k, months["2026-07"], "16000.00")
    k.append("TH-SSO", f.revocation(months["2026-08"], issuer="TH-SSO"))
    k.append("MY-PERKESO", f.entitlement())
    return k


@pytest.fixture(scope="module")
def bundle(kit: Kit) -> Bundle:
    return _only(kit)


def _reissue(bundle: Bundle, **changes: object) -> str:
    return dataclasses.replace(bundle, **changes).to_json()


def _code(text: str | bytes, kit: Kit) -> str:
    with pytest.raises(BundleError) as info:
        verify_bundle(text, kit.trust_list)
    return info.value.code


# ---- the format -----------------------------------------------------------------


def test_the_bundle_is_canonical_json_in_origin_index_order(kit: Kit, bundle: Bundle) -> None:
    text = bundle.to_json()
    doc = json.loads(text)
    assert canonicalize(doc) == text.encode()
    assert set(doc) == {"format", "pwid", "trust_list", "records"}
    assert doc["format"] == "pel-bundle/v1" and doc["pwid"] == PWID
    assert doc["trust_list"] == {"version": 1, "digest": kit.trust_list.digest()}
    keys = []
    for item in doc["records"]:
        assert item["record"]["pwid"] == PWID  # nobody else's records
        proof = parse_proof(item["proof"])
        origin = Checkpoint.parse(parse_note(proof.checkpoint).text).origin
        keys.append((origin, proof.index))
    assert keys == sorted(keys)
    assert [k[0] for k in keys] == ["perkeso.gov.my/pel"] + ["ssb.gov.mm/pel"] + [
        "sso.go.th/pel"
    ] * 5
    assert Bundle.from_json(text) == bundle
    assert bundle.digest() == hashlib.sha256(text.encode()).hexdigest()


def test_each_proof_is_a_plain_c2sp_tlog_proof(bundle: Bundle) -> None:
    for entry in bundle.records:
        text = entry.proof
        lines = text.split("\n")
        assert lines[0] == HEADER and lines[1].startswith("index ")
        proof = parse_proof(text)
        assert text == format_proof(proof.index, proof.hashes, proof.checkpoint)
        # What any tlog-proof verifier does: leaf hash of the entry bytes, path, root.
        cp = Checkpoint.parse(parse_note(proof.checkpoint).text)
        leaf = hashlib.sha256(b"\x00" + canonicalize(entry.record)).digest()
        assert leaf == hash_leaf(canonicalize(entry.record))
        verify_inclusion(proof.index, cp.size, leaf, proof.hashes, cp.root)


def test_tlog_proof_parser_is_strict() -> None:
    h = hashlib.sha256(b"x").digest()
    note = b"o\n1\n" + base64.b64encode(h) + b"\n\n\xe2\x80\x94 o AAAAAAA=\n"
    good = format_proof(3, [h], note)
    assert parse_proof(good).index == 3
    with_extra = good.replace("index 3", "extra aGk=\nindex 3")
    assert parse_proof(with_extra).extra == b"hi"  # allowed by the spec, ignored
    b64 = base64.b64encode(h).decode()
    for bad in [
        good.replace(HEADER, "c2sp.org/tlog-proof@v2"),
        good.replace("index 3", "index 03"),
        good.replace("index 3", "index  3"),
        good.replace("index 3", "index 3\nextra aGk="),  # extra only as second line
        good.replace(b64, base64.b64encode(h[:31]).decode()),  # 31-byte hash
        good.replace(b64, b64[:-2] + "R="),  # non-canonical padding bits
        good.replace("\n\n", "\n", 1),
        good.split("\n\n")[0] + "\n\n",
    ]:
        with pytest.raises(ProofError):
            parse_proof(bad)


# ---- verdict, corrections, summary -----------------------------------------------


def test_verifies_offline_with_corrections_applied(kit: Kit, bundle: Bundle) -> None:
    report = verify_bundle(bundle.to_json(), kit.trust_list)
    assert report.digest == bundle.digest()
    status = {
        (v.type, v.record["body"].get("period")): v.status
        for v in report.records
        if v.type == "contribution"
    }
    assert status == {
        ("contribution", "2026-07"): "amended",
        ("contribution", "2026-08"): "revoked",
        ("contribution", "2026-09"): "valid",
    }
    july = next(v for v in report.records if v.record["body"].get("period") == "2026-07")
    assert july.body["insured_earnings"] == "16000.00" and july.corrected_by
    for v in report.records:
        assert set(v.cosigners) == {m.agency for m in kit.trust_list.members} - {v.member.agency}

    s = summarise(report)
    assert s.home_country == "MM" and s.enrolment and s.enrolment["issuer"] == "MM-SSB"
    th = s.states["TH"]
    assert th.months_by_branch == {"old_age": 2, "sickness": 2}  # August revoked
    assert th.earnings == {"THB": Decimal("31000.00")}  # 16000 (amended) + 15000
    assert th.contributions == {"THB": Decimal("1200.00")}
    assert th.revoked == 1 and th.amended == 1
    assert [e["status"] for e in s.states["MY"].entitlements] == ["granted"]
    assert len(s.corrections) == 2


def test_a_revoked_entitlement_does_not_count() -> None:
    kit = Kit()
    kit.append("MM-SSB", f.enrolment())
    ent = kit.append("MY-PERKESO", f.entitlement())
    kit.append("MY-PERKESO", f.revocation(ent, issuer="MY-PERKESO"))
    report = verify_bundle(_only(kit).to_json(), kit.trust_list)
    [e] = [v for v in report.records if v.type == "entitlement"]
    assert e.status == "revoked" and not e.counts
    [shown] = summarise(report).states["MY"].entitlements
    assert shown["record_status"] == "revoked"


def test_a_withheld_revocation_cannot_be_seen_offline(kit: Kit, bundle: Bundle) -> None:
    """The documented limit: leaving a revocation out (its record kept) still verifies."""
    kept = tuple(e for e in bundle.records if e.record["type"] != "revocation")
    report = verify_bundle(_reissue(bundle, records=kept), kit.trust_list)
    assert all(v.status != "revoked" for v in report.records)
    # But a correction without its target is refused.
    no_target = tuple(e for e in bundle.records if e.record["body"].get("period") != "2026-08")
    assert _code(_reissue(bundle, records=no_target), kit) == "missing_target"


# ---- refusals, each with its code -------------------------------------------------


def test_no_quorum(kit: Kit) -> None:
    one = kit.checkpoint("TH-SSO", cosigners=1)
    b = build_bundle(PWID, kit.trust_list, kit.entries("TH-SSO", one)[2:3])
    assert _code(b.to_json(), kit) == "no_quorum"
    assert verify_bundle(_only_th(kit, kit.checkpoint("TH-SSO", cosigners=2)), kit.trust_list)


def _only_th(kit: Kit, note: bytes) -> str:
    return build_bundle(PWID, kit.trust_list, kit.entries("TH-SSO", note)[2:3]).to_json()


def test_a_quorum_of_zero_is_not_everything_passes(kit: Kit) -> None:
    zero = kit.trust_list.model_copy(update={"witness_quorum": 0})
    b = build_bundle(PWID, zero, kit.entries("TH-SSO")[2:3])
    with pytest.raises(BundleError) as info:
        verify_bundle(b.to_json(), zero)
    assert info.value.code == "no_quorum"


def test_unknown_and_bad_signature_lines(kit: Kit) -> None:
    note = kit.checkpoint("TH-SSO")
    body = parse_note(note).text
    stranger = NoteSigner("stranger.example/witness", SigningKey.generate())
    odd = note + stranger.signature_line(body).encode()
    assert _code(_only_th(kit, odd), kit) == "unknown_signature"
    # The log's own witness key is not a witness of its own log.
    own = kit.logs["TH-SSO"].witness.cosign(body)
    assert _code(_only_th(kit, add_signatures(note, [own])), kit) == "unknown_signature"
    # Another log's key signing this checkpoint.
    other = kit.logs["MM-SSB"].log
    assert _code(_only_th(kit, note + other.signature_line(body).encode()), kit) == (
        "unknown_signature"
    )
    # A cosignature by a listed witness over other text.
    mm = kit.logs["MM-SSB"].witness.cosign(body + b"x\n")
    sigs = [s for s in parse_note(note).signatures if s.name != mm.name]
    forged = body + b"\n" + b"".join(s.line().encode() for s in [*sigs, mm])
    assert _code(_only_th(kit, forged), kit) == "bad_cosignature"
    # The log signature over other text.
    log_sig = parse_note(note).signatures[0]
    bad_log = dataclasses.replace(log_sig, payload=bytes(64))
    rest = parse_note(note).signatures[1:]
    text = body + b"\n" + b"".join(s.line().encode() for s in [bad_log, *rest])
    assert _code(_only_th(kit, text), kit) == "bad_checkpoint_signature"
    unsigned = body + b"\n" + b"".join(s.line().encode() for s in rest)
    assert _code(_only_th(kit, unsigned), kit) == "bad_checkpoint_signature"


def test_trust_list_must_match_or_be_in_the_chain(kit: Kit, bundle: Bundle) -> None:
    text = bundle.to_json()
    v2 = new_version(kit.trust_list, witness_quorum=1)
    assert _code(_reissue(bundle, trust_digest="00" * 32), kit) == "trust_list_mismatch"
    with pytest.raises(BundleError) as info:
        verify_bundle(text, v2)
    assert info.value.code == "trust_list_mismatch"
    # With the chain held, a bundle made under version 1 still verifies against version 1.
    assert verify_bundle(text, [kit.trust_list, v2]).trust_version == 1


def test_each_refusal_has_its_code(kit: Kit, bundle: Bundle) -> None:
    recs = list(bundle.records)
    th = next(i for i, e in enumerate(recs) if e.record["issuer"] == "TH-SSO")
    e = recs[th]

    def swap(i: int, entry: BundleEntry) -> str:
        return _reissue(bundle, records=(*recs[:i], entry, *recs[i + 1 :]))

    other = dict(e.record, pwid=f.PWID2)
    assert _code(swap(th, BundleEntry(other, e.proof)), kit) == "pwid_mismatch"
    assert _code(_reissue(bundle, pwid=f.PWID2), kit) == "pwid_mismatch"
    unsigned = dict(e.record, id="changed-1")
    assert _code(swap(th, BundleEntry(unsigned, e.proof)), kit) == "bad_record_signature"
    stranger = sign_record({**e.record, "issuer": "SG-CPF"}, SigningKey.generate())
    assert _code(swap(th, BundleEntry(stranger, e.proof)), kit) == "unknown_issuer"
    # A correctly signed record of the pwid that is not in the log.
    k = kit.logs["TH-SSO"]
    fake = sign_record({**e.record, "id": "never-logged"}, k.issuer)
    assert _code(swap(th, BundleEntry(fake, e.proof)), kit) == "bad_inclusion_proof"
    # Proved against another member's log.
    mm = next(x for x in recs if x.record["issuer"] == "MM-SSB")
    assert _code(swap(th, BundleEntry(e.record, mm.proof)), kit) == "wrong_log"
    assert _code(swap(th, BundleEntry(e.record, "not a proof")), kit) == "bad_proof"
    bad = dict(e.record, v=2)
    assert _code(swap(th, BundleEntry(bad, e.proof)), kit) == "bad_record"
    reordered = _reissue(bundle, records=tuple(reversed(recs)))
    assert _code(reordered, kit) == "not_ordered"
    twice = _reissue(bundle, records=tuple(recs[:1] + recs))
    assert _code(twice, kit) == "duplicate_record"
    assert _code(_reissue(bundle, records=()), kit) == "bad_format"
    assert _code(b"[]", kit) == "bad_format"
    assert _code(b"\xff", kit) == "bad_format"
    pretty = json.dumps(json.loads(bundle.to_json()), indent=1)
    assert _code(pretty, kit) == "not_canonical"
    assert _code(bundle.to_json() + "\n", kit) == "not_canonical"
    dup = bundle.to_json().replace('{"format":', '{"format":"x","format":', 1)
    assert _code(dup, kit) == "bad_format"


# ---- every single-byte change is refused -----------------------------------------


@pytest.fixture(scope="module")
def small() -> tuple[Kit, bytes]:
    k = Kit()
    c = k.append("TH-SSO", f.contribution(body={"currency": "THB"}))
    k.append("TH-SSO", f.revocation(c, issuer="TH-SSO"))
    return k, _only(k).to_bytes()


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_single_byte_change_is_rejected(
    small: tuple[Kit, bytes], data: st.DataObject
) -> None:
    kit, raw = small
    pos = data.draw(st.integers(0, len(raw) - 1), label="position")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[pos]), label="byte")
    changed = raw[:pos] + bytes([new]) + raw[pos + 1 :]
    with pytest.raises(BundleError):
        verify_bundle(changed, kit.trust_list)


def _long_spans(raw: bytes) -> list[range]:
    """Where the ML-DSA-44 cosignatures' base64 lies in a bundle (3 KiB each)."""
    spans = []
    for m in re.finditer(rb"[A-Za-z0-9+/=]{3000,}", raw):
        spans.append(range(m.start(), m.end()))
    return spans


def test_sweep_every_position_of_a_small_bundle(small: tuple[Kit, bytes]) -> None:
    kit, raw = small
    assert verify_bundle(raw, kit.trust_list).records
    spans = _long_spans(raw)
    assert len(spans) == 4  # two records, each proof with two witnesses' ML-DSA-44 lines
    accepted = []
    for pos in range(len(raw)):
        # An ML-DSA-44 signature's 3 KiB of base64 are one case: every 7th position of
        # them, one flip each (cycling through the three), keeps the sweep as short as
        # it was with Ed25519 alone; every other position gets all three flips. The
        # property test above draws positions anywhere.
        flips: tuple[int, ...] = (0x01, 0x20, 0x80)
        if any(pos in span for span in spans):
            flips = (flips[pos % 3],) if pos % 7 == 0 else ()
        for flip in flips:
            changed = raw[:pos] + bytes([raw[pos] ^ flip]) + raw[pos + 1 :]
            try:
                verify_bundle(changed, kit.trust_list)
                accepted.append((pos, flip))
            except BundleError:
                pass
    assert accepted == []
