"""A JSON batch prepared in a signature worker gives exactly what preparing it in line
gives: the same entries, or the same refusals, position by position."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pel.crypto.jcs import canonicalize
from pel.crypto.keys import SigningKey
from pel.crypto.record import sign_record, verify_record
from pel.ledger.errors import BatchError, RecordError
from pel.node.agency_node import Node
from pel.node.serving.prepare_batch import (
    BatchRules,
    outcome_result,
    parse_batch,
    prepare_batch,
    prepare_json,
)
from pel.node.serving.signature_workers import SignaturePool
from tests import factories as f

AGENCY = "MY-PERKESO"
RULES = BatchRules(agency=AGENCY, now="2026-11-23T10:00:00Z", max_records=1000)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.from_seed(b"\x07" * 32)


@pytest.fixture(scope="module")
def pool(key: SigningKey) -> Any:
    pool = SignaturePool(key, min_batch=4)
    pool.start()
    assert pool.warm(120)
    yield pool
    pool.stop()


def _in_line(key: SigningKey, raw: bytes, rules: BatchRules = RULES) -> Any:
    def sign(messages: list[bytes]) -> list[bytes]:
        return [key.sign(m) for m in messages]

    def verify(work: list[tuple[bytes, bytes]]) -> list[bool]:
        return [key.public_key.verify(s, m) for s, m in work]

    return prepare_json(raw, rules, sign, verify)


def _outcome(get: Any) -> Any:
    """The prepared rows, or the refusal as comparable data."""
    try:
        return [(p.record_id, p.pwid, p.type, p.entry, p.target, p.loose_time) for p in get()]
    except BatchError as exc:
        return ("batch", exc.code, exc.http_status, [(p, e.to_dict()) for p, e in exc.problems])
    except RecordError as exc:
        return ("record", exc.to_dict(), exc.http_status)


def _batches(key: SigningKey) -> dict[str, bytes]:
    drafts = [f.contribution() for _ in range(60)]
    first = f.with_issuer(f.contribution())
    signed = [sign_record(f.with_issuer(f.contribution()), key) for _ in range(20)]
    signed[3] = sign_record(signed[3], SigningKey.generate())  # not the issuer's key
    signed[9] = {**signed[9], "sig": signed[9]["sig"][:-4] + "AA=="}  # tampered
    mixed: list[Any] = [*drafts[:10], *signed]
    mixed[2] = {**mixed[2], "body": {**mixed[2]["body"], "insured_earnings": 12}}
    mixed[5] = {**mixed[5], "issuer": "TH-SSO"}
    mixed[6] = "not an object"
    mixed[7] = {**mixed[7], "extra": 1}
    return {
        "drafts": json.dumps(drafts).encode(),
        "loose time": json.dumps(
            [{k: v for k, v in d.items() if k != "issued_at"} for d in drafts]
        ).encode(),
        "signed": json.dumps([sign_record(first, key), *signed[:3]]).encode(),
        "mixed": json.dumps(mixed).encode(),
        "amendment": json.dumps([f.amendment(drafts[0]), *drafts[1:40]]).encode(),
        "too large": json.dumps([f.contribution(body={"employer": "E" * 60})] * 1001).encode(),
        "duplicate key": b'[{"v": 1, "v": 1}' + b', {"v": 1}' * 200 + b"]",
        "not json": b"[" + b'{"v": 1},' * 200 + b"NaN]",
        "not an array": json.dumps({"records": drafts}).encode(),
        "empty": b"[" + b" " * 40000 + b"]",
    }


def test_worker_and_in_line_preparation_agree(key: SigningKey, pool: SignaturePool) -> None:
    for name, raw in _batches(key).items():
        assert len(raw) >= pool._min_batch * 256 or name == "signed", name
        in_line = _outcome(lambda raw=raw: outcome_result(_in_line(key, raw)))
        worker = _outcome(lambda raw=raw: pool.prepare_json(raw, RULES, [key.public_key]))
        assert worker == in_line, name


def test_prepared_entries_are_the_signed_records(key: SigningKey, pool: SignaturePool) -> None:
    raw = _batches(key)["drafts"]
    prepared = pool.prepare_json(raw, RULES, [key.public_key])
    for draft, p in zip(json.loads(raw), prepared, strict=True):
        record = json.loads(p.entry)
        verify_record(record, key.public_key)
        assert p.entry == canonicalize(record)
        assert {k: v for k, v in record.items() if k != "sig"} == {**draft, "issuer": AGENCY}


def test_refusals_name_every_bad_record(key: SigningKey, pool: SignaturePool) -> None:
    with pytest.raises(BatchError) as info:
        pool.prepare_json(_batches(key)["mixed"], RULES, [key.public_key])
    assert [(p, e.code) for p, e in info.value.problems] == [
        (2, "wrong_type"),
        (5, "foreign_issuer"),
        (6, "not_an_object"),
        (7, "unknown_field"),
        (13, "bad_signature"),
        (19, "bad_signature"),
    ]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("too large", "batch_too_large"),
        ("duplicate key", "bad_json"),
        ("not json", "bad_json"),
        ("not an array", "not_an_array"),
        ("empty", "empty_batch"),
    ],
)
def test_whole_batch_refusals(key: SigningKey, pool: SignaturePool, name: str, code: str) -> None:
    with pytest.raises(RecordError) as info:
        pool.prepare_json(_batches(key)[name], RULES, [key.public_key])
    assert info.value.code == code


def test_rules_are_applied_in_the_worker(key: SigningKey, pool: SignaturePool) -> None:
    raw = _batches(key)["drafts"]
    outsider = BatchRules(agency=AGENCY, now=RULES.now, max_records=1000, not_member="not one")
    with pytest.raises(BatchError) as info:
        pool.prepare_json(raw, outsider, [key.public_key])
    assert {e.code for _, e in info.value.problems} == {"not_a_member"}
    assert len(info.value.problems) == 60
    rotated = BatchRules(agency=AGENCY, now=RULES.now, max_records=1000, can_sign=False)
    with pytest.raises(RecordError) as one:
        pool.prepare_json(raw, rotated, [key.public_key])
    assert one.value.code == "issuer_key_not_current"
    with pytest.raises(BatchError):
        pool.prepare_json(_batches(key)["signed"], RULES, [SigningKey.generate().public_key])


def test_parse_batch_is_strict() -> None:
    assert parse_batch(b'[{"a": [1, {"b": null}]}]') == [{"a": [1, {"b": None}]}]
    for raw in (b'[{"a": 1, "a": 2}]', b"[Infinity]", b"[1,]", b"\xff"):
        with pytest.raises(RecordError):
            parse_batch(raw)


def test_node_json_batches_use_the_worker(sqlite_node: tuple[Node, str]) -> None:
    node, _ = sqlite_node
    node.signatures.start()
    try:
        assert node.signatures.warm(120)
        drafts = [f.contribution() for _ in range(300)]
        appended = node.submit_json(json.dumps(drafts).encode())
        assert [a.index for a in appended] == list(range(300))
        for a in appended:
            verify_record(json.loads(node.log.entry(a.index)), node.issuer_public_key)
        again = node.submit_json(json.dumps(drafts).encode())  # idempotent
        assert [a.index for a in again] == list(range(300))
        assert all(a.duplicate for a in again)
        rules = node.batch_rules("2026-11-23T10:00:00Z")
        direct = prepare_batch(
            [f.contribution(id="direct-1")], rules, node.signatures.sign, lambda w: []
        )
        assert direct[0].record_id == "direct-1"
    finally:
        node.signatures.stop()
