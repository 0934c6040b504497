"""Turning a submitted batch into records the log can append: parse, validate, sign, encode.

Everything here is a function of its arguments: the node's rules for the batch
come as a :class:`BatchRules` value and the Ed25519 work as two callables. So the
same code runs in the serving process, or, for big batches, in a signature worker
process (``node.parallel``), where parsing, validation and canonical JSON — as
much Python as the signatures cost in C — run on another core than the one
serving HTTP and writing the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pel.crypto.errors import PelError, SignatureError
from pel.crypto.record import encode_signature, record_cut, record_signature, signed_entry
from pel.ledger.errors import AgreementError, BatchError, LedgerError, RecordError
from pel.ledger.portability.agreements import keys_from_raw, verify_agreement
from pel.ledger.records import validate_record
from pel.ledger.records.entries import PreparedRecord, prepare_record

#: Signs messages with the node's issuer key.
Sign = Callable[[list[bytes]], list[bytes]]
#: For each ``(signature, message)``: does one of the issuer's current keys sign it?
Verify = Callable[[list[tuple[bytes, bytes]]], list[bool]]


@dataclass(frozen=True, slots=True)
class BatchRules:
    """What a node's rules say about one batch, decided before it is prepared.

    Attributes:
        agency: The node's agency: the only issuer its log takes.
        now: The ``issued_at`` given to drafts that carry none.
        max_records: The most records one batch may hold.
        not_member: The refusal of every record when the agency is not in the
            federation's current trust list; None when it is (or there is none).
        can_sign: Whether the node's issuer key is the one the trust list gives it.
        party_keys: ``(agency, raw issuer key)`` of every member of the trust list: the
            keys an agreement's parties sign with. Empty without a trust list (then only
            the node's own key is known).
    """

    agency: str
    now: str
    max_records: int
    not_member: str | None = None
    can_sign: bool = True
    party_keys: tuple[tuple[str, bytes], ...] = ()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise RecordError(f"duplicate JSON key {dup!r}", code="bad_json")
    return obj


def _no_constants(name: str) -> Any:
    raise RecordError(f"{name} is not JSON", code="bad_json")


def parse_batch(raw: bytes) -> list[Any]:
    """A JSON array, strictly: UTF-8, no duplicate keys, no NaN/Infinity.

    Raises:
        RecordError: ``bad_json``, ``not_an_array`` or ``empty_batch``.
    """
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"the body is not valid JSON: {exc}", code="bad_json") from None
    if not isinstance(value, list):
        raise RecordError("the body must be a JSON array of records", code="not_an_array")
    if not value:
        raise RecordError("the batch is empty", code="empty_batch")
    return value


def check_batch_size(items: Sequence[object], rules: BatchRules) -> None:
    """Refuse a batch of more records than the rules allow.

    Raises:
        RecordError: ``batch_too_large``.
    """
    if len(items) > rules.max_records:
        raise RecordError(
            f"a batch holds at most {rules.max_records} records", code="batch_too_large"
        )


def validate_item(item: object, rules: BatchRules) -> tuple[dict[str, Any], bool]:
    """Check one submitted item; return the record (without ``sig`` for drafts) and
    whether ``issued_at`` was filled in."""
    if not isinstance(item, dict):
        raise RecordError("a record must be a JSON object", code="not_an_object")
    if rules.not_member is not None:
        raise RecordError(rules.not_member, code="not_a_member", field="issuer")
    agency = rules.agency
    issuer = item.get("issuer", agency)
    if issuer != agency and item.get("type") == "agreement" and "sig" in item:
        # The one record another agency may put in this log: an agreement this agency
        # is a party to, signed by every party (checked in ``prepare_batch``).
        record = dict(validate_record(item, signed=True))
        if agency not in record["body"]["parties"]:
            raise AgreementError(
                f"{agency} is not a party to this agreement", code="not_a_party", field="body"
            )
        return record, False
    if issuer != agency:
        raise RecordError(
            f"this log belongs to {agency}; it does not take records of {issuer!r}",
            code="foreign_issuer",
            field="issuer",
        )
    if "sig" in item:
        return dict(validate_record(item, signed=True)), False
    draft = {"v": 1, **item, "issuer": agency}
    loose = "issued_at" not in draft
    if loose:
        draft["issued_at"] = rules.now
    validate_record(draft, signed=False)
    if draft["type"] == "agreement" and agency not in draft["body"]["parties"]:
        raise AgreementError(
            f"{agency} is not a party to this agreement", code="not_a_party", field="body"
        )
    return draft, loose


def check_agreement(record: dict[str, Any], rules: BatchRules) -> None:
    """Every party's signature on an agreement; and, for one proposed by another party,
    the proposer's envelope signature (with the proposer's key from the trust list).

    Raises:
        AgreementError: a party's signature is missing or bad, or a key is unknown.
    """
    keys = keys_from_raw(rules.party_keys)
    verify_agreement(record, keys)
    if "sig" in record and record["issuer"] != rules.agency:
        signing, _ = record_cut(record)
        raw = record_signature(record)
        if not any(k.verify(raw, signing) for k in keys.get(record["issuer"], ())):
            raise _bad_signature(record)


def _bad_signature(record: dict[str, Any]) -> RecordError:
    return RecordError(
        f"the signature of record {record['id']!r} does not verify with the issuer's key",
        code="bad_signature",
        field="sig",
    )


# (position, record, issued_at filled in, (signing bytes, where sig goes in them))
_Checked = tuple[int, dict[str, Any], bool, tuple[bytes, int]]


def prepare_batch(
    items: Sequence[object], rules: BatchRules, sign: Sign, verify: Verify
) -> list[PreparedRecord]:
    """Validate every item, sign the drafts, check the signed records' signatures,
    and encode each record as its log entry: all of the batch, or an error.

    Raises:
        BatchError: every refused record, by position.
        RecordError: the node cannot sign drafts (its issuer key is not current).
    """
    checked: list[_Checked] = []
    problems: list[tuple[int, LedgerError]] = []
    for pos, item in enumerate(items):
        try:
            record, loose = validate_item(item, rules)
            if record["type"] == "agreement":
                check_agreement(record, rules)
            # One encoding serves both the signing bytes and the entry.
            checked.append((pos, record, loose, record_cut(record)))
        except LedgerError as exc:
            problems.append((pos, exc))
        except PelError as exc:
            problems.append((pos, RecordError(exc.message, code=exc.code)))
    drafts = [c for c in checked if "sig" not in c[1]]
    signed = [c for c in checked if "sig" in c[1] and c[1]["issuer"] == rules.agency]
    entries: dict[int, bytes] = {}
    for pos, record, _, (signing, offset) in checked:
        if "sig" in record and record["issuer"] != rules.agency:  # checked whole above
            entries[pos] = signed_entry(signing, offset, record["sig"])
    if drafts and not rules.can_sign:
        raise RecordError(
            "this node's issuer key is not the one the trust list gives "
            f"{rules.agency}: apply the key rotation's key, or sign records elsewhere",
            code="issuer_key_not_current",
        )
    sigs = sign([c[3][0] for c in drafts])
    for (pos, record, _, (signing, offset)), raw in zip(drafts, sigs, strict=True):
        record["sig"] = encode_signature(raw)
        entries[pos] = signed_entry(signing, offset, record["sig"])
    if signed:
        problems.extend(_check_signatures(signed, verify, entries))
    prepared: list[PreparedRecord] = []
    for pos, record, loose, _ in checked:
        if pos not in entries:
            continue  # its signature did not verify
        try:
            prepared.append(prepare_record(record, loose_time=loose, entry=entries[pos]))
        except LedgerError as exc:
            problems.append((pos, exc))
    if problems:
        raise BatchError(sorted(problems, key=lambda p: p[0]))
    return prepared


def _check_signatures(
    signed: list[_Checked], verify: Verify, entries: dict[int, bytes]
) -> list[tuple[int, LedgerError]]:
    """Verify submitted signed records: the entries of the good ones go into
    ``entries``, the bad ones are returned as problems."""
    work, waiting, problems = [], [], []
    for pos, record, _, cut in signed:
        try:
            work.append((record_signature(record), cut[0]))
            waiting.append((pos, record, cut))
        except SignatureError:
            problems.append((pos, _bad_signature(record)))
    ok = verify(work)
    for (pos, record, (signing, offset)), good in zip(waiting, ok, strict=True):
        if good:
            entries[pos] = signed_entry(signing, offset, record["sig"])
        else:
            problems.append((pos, _bad_signature(record)))
    return problems


# ---- across a process boundary ---------------------------------------------------------
# Exceptions with keyword arguments do not survive pickling, and pickling a thousand
# dataclasses costs more than tuples: a worker answers with plain tuples instead.

Outcome = tuple[str, Any]


def prepare_json(raw: bytes, rules: BatchRules, sign: Sign, verify: Verify) -> Outcome:
    """:func:`parse_batch`, :func:`check_batch_size` and :func:`prepare_batch`, with the
    result or the refusal as plain data, for :func:`outcome_result`."""
    try:
        items = parse_batch(raw)
        check_batch_size(items, rules)
        prepared = prepare_batch(items, rules, sign, verify)
    except BatchError as exc:
        return "batch", [(pos, *_plain_error(e)) for pos, e in exc.problems]
    except RecordError as exc:
        return "record", _plain_error(exc)
    return "ok", [tuple(p) for p in prepared]


def _plain_error(exc: LedgerError) -> tuple[str, str, str | None]:
    return exc.message, exc.code, getattr(exc, "field", None)


def outcome_result(outcome: Outcome) -> list[PreparedRecord]:
    """The prepared records of a :func:`prepare_json` outcome, or its refusal raised."""
    kind, value = outcome
    if kind == "ok":
        return list(map(PreparedRecord._make, value))
    if kind == "record":
        message, code, field = value
        raise RecordError(message, code=code, field=field)
    raise BatchError(
        [(pos, RecordError(message, code=code, field=field)) for pos, message, code, field in value]
    )
