"""Checking what the database says about an entry against the entry itself.

The ``entries`` table keeps, beside each entry's bytes, the columns the log is
searched by: the record id (the idempotency key), the worker's PWID and the type.
They are copies of fields of the signed record, so a changed column would make a
look-up answer for another record, or miss one, while every hash still holds. Here
each row is read back against its entry:

* :func:`check_columns` (every entry, cheap): the entry is a JSON record of the
  log's agency, and its ``id``, ``pwid`` and ``type`` are the row's columns. Entries
  under a checkpoint need no more: their bytes are fixed by the signed root, which
  the start-up check rebuilds from them.
* :func:`check_signed` (entries not yet under a checkpoint, or every entry when
  asked): also RFC 8785 canonical, valid under the record schema, and signed by one
  of the agency's issuer keys. A row that fails it is not a record of this log, and
  the log must never sign a checkpoint over it.

Both return the amendment or revocation target the record names, which the caller
checks once the pass is over (:func:`check_targets`): it must be an earlier record of
the same worker in this log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pel.crypto.errors import CryptoError
from pel.crypto.keys import PublicKey
from pel.crypto.record import read_entry, record_signature
from pel.ledger.errors import DamagedLogError, LedgerError, RecordError
from pel.ledger.portability.agreements import verify_agreement
from pel.ledger.records.validate import validate_record

T = TypeVar("T")
R = TypeVar("R")

StoredEntry = tuple[int, str, str, str, bytes]
"""A row of ``entries`` as read for the check: index, record id, pwid, type, entry."""

Target = tuple[int, str, str]
"""An amendment's or revocation's target to look up: its index, the id it names, its pwid."""

MapFn = Callable[[Callable[[T], R], Sequence[T]], list[R]]
"""``map`` as a list, possibly split over threads (the node gives ``parallel_map``)."""


# One decoder for every row: ``json.loads`` would also sniff each entry's encoding.
_decode = json.JSONDecoder().decode


def serial_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """The plain :data:`MapFn`: in line, in order."""
    return [fn(x) for x in items]


@dataclass(frozen=True)
class EntryRules:
    """What every entry of one log must be.

    Attributes:
        agency: The log's agency: the issuer of every record in it but agreements
            that another party proposed.
        issuer_keys: Every key the agency has signed records with (its key now and,
            in a federation, the keys of earlier trust-list versions).
        party_keys: Every member's issuer keys (from the trust lists applied), which an
            agreement proposed by another party is checked with.
    """

    agency: str
    issuer_keys: tuple[PublicKey, ...]
    party_keys: Mapping[str, Sequence[PublicKey]] = field(default_factory=dict)


def _damaged(code: str, message: str) -> DamagedLogError:
    return DamagedLogError(message, code=code)


def _target(idx: int, record: dict[str, Any], pwid: str) -> Target | None:
    if record.get("type") not in ("amendment", "revocation"):
        return None
    try:
        target = record["body"]["target"]["id"]
    except (KeyError, TypeError):
        raise _damaged(
            "entry_not_record", f"entry {idx}: a {record.get('type')} without a target id"
        ) from None
    return idx, str(target), pwid


def _proposed_by_a_party(record: dict[str, Any], agency: str) -> bool:
    """An agreement another party proposed, with this agency among its parties: the one
    record of another issuer that a log holds (the same record is in every party's log)."""
    body = record.get("body")
    return (
        record.get("type") == "agreement"
        and isinstance(body, dict)
        and isinstance(body.get("parties"), list)
        and agency in body["parties"]
    )


def _compare(row: StoredEntry, record: Any, agency: str | None) -> Target | None:
    idx, record_id, pwid, type_, _ = row
    if type(record) is not dict:
        raise _damaged("entry_not_record", f"entry {idx} is not a JSON object")
    # Rules, agreements and withdrawals carry no worker: their pwid column is empty.
    for column, stored, name, want in (
        ("record_id", record_id, "id", record.get("id")),
        ("pwid", pwid, "pwid", record.get("pwid", "")),
        ("type", type_, "type", record.get("type")),
    ):
        if want != stored:
            raise _damaged(
                "entry_column_mismatch",
                f"entry {idx}: the {column} column says {str(stored)[:40]!r} but the signed "
                f"record's {name} is {str(want)[:40]!r}",
            )
    if (
        agency is not None
        and record.get("issuer") != agency
        and not _proposed_by_a_party(record, agency)
    ):
        raise _damaged(
            "entry_foreign_issuer",
            f"entry {idx} is issued by {str(record.get('issuer'))[:40]!r}, not by {agency}, "
            "whose log this is",
        )
    return _target(idx, record, pwid)


def check_columns(row: StoredEntry, agency: str | None) -> Target | None:
    """Check a row's columns against its entry (JSON read, no signature); the issuer
    too when ``agency`` is given.

    Raises:
        DamagedLogError: ``entry_not_record``, ``entry_column_mismatch`` or
            ``entry_foreign_issuer``.
    """
    try:
        record = _decode(row[4].decode())
    except ValueError:  # UnicodeDecodeError included
        raise _damaged("entry_not_record", f"entry {row[0]} is not JSON") from None
    return _compare(row, record, agency)


# The envelope after ``body`` in a record's canonical JSON (keys sorted, strings with no
# escape): id, issued_at, issuer, pwid, sig, type, v. Groups: id, issuer, pwid, type.
_TAIL = re.compile(
    rb',"id":"([^"\\]*)","issued_at":"[^"\\]*","issuer":"([^"\\]*)","pwid":"([^"\\]*)",'
    rb'"sig":"[^"\\]*","type":"([^"\\]*)","v":1\}\Z'
)


def check_fixed(row: StoredEntry, agency: str | None) -> Target | None:
    """:func:`check_columns` for an entry whose bytes the signed root fixes (rehashed in
    the same pass): a record's canonical JSON as appended. Its envelope then follows
    ``body`` (keys sorted), and a string cannot hold an unescaped quote, so the envelope
    is read from the entry's tail without parsing the record; the record is parsed
    when it names a target, its tail is not the plain envelope (an escape, another
    version), or a column differs (to say which)."""
    entry = row[4]
    tail = _TAIL.match(entry, max(0, entry.rfind(b',"id":"')))
    if tail is None:
        return check_columns(row, agency)
    record_id, issuer, pwid, type_ = tail.groups()
    if (
        type_ in (b"amendment", b"revocation")
        or record_id.decode() != row[1]
        or pwid.decode() != row[2]
        or type_.decode() != row[3]
        or (agency is not None and issuer.decode() != agency)
    ):
        return check_columns(row, agency)
    return None


def check_signed(row: StoredEntry, rules: EntryRules) -> Target | None:
    """Check a row as a record this log may hold: canonical JSON, the schema, the
    agency's signature, and the columns.

    Raises:
        DamagedLogError: the codes of :func:`check_columns`, and ``entry_bad_signature``.
    """
    idx = row[0]
    try:
        record, signing = read_entry(row[4])
        validate_record(record)
    except (CryptoError, RecordError) as exc:
        raise _damaged("entry_not_record", f"entry {idx} is not a valid record: {exc}") from None
    target = _compare(row, record, rules.agency)
    try:
        sig = record_signature(record)
    except CryptoError as exc:
        raise _damaged("entry_bad_signature", f"entry {idx}: {exc}") from None
    issuer = record["issuer"]
    if issuer != rules.agency:  # an agreement another party proposed: every party signed
        try:
            verify_agreement(record, rules.party_keys)
        except LedgerError as exc:
            raise _damaged(
                "entry_bad_signature", f"entry {idx}: an agreement not signed by its parties: {exc}"
            ) from None
        keys: Sequence[PublicKey] = rules.party_keys.get(issuer, ())
    else:
        keys = rules.issuer_keys
    if not any(key.verify(sig, signing) for key in keys):
        raise _damaged(
            "entry_bad_signature",
            f"entry {idx} is not signed by a key of {rules.agency}: it is not a record of this log",
        )
    return target


def check_rows(
    rows: Sequence[StoredEntry],
    *,
    agency: str | None,
    rules: EntryRules | None,
    signed_from: int,
    fixed_below: int = 0,
    map_fn: MapFn = serial_map,
) -> list[Target]:
    """Check every row: :func:`check_columns` below index ``signed_from``,
    :func:`check_signed` from it on (all of them lightly when there are no ``rules``);
    :func:`check_fixed` for those checked lightly below ``fixed_below`` (entries the
    caller rehashed against the signed root). Returns the targets to look up.

    Raises:
        DamagedLogError: for the first bad row in log order.
    """

    if rules is None:
        signed: Sequence[StoredEntry] = ()
        light = rows
    else:
        light = [r for r in rows if r[0] < signed_from]
        signed = [r for r in rows if r[0] >= signed_from]
    # JSON reading holds the GIL: threads would only add their cost. Signatures do not.
    found = [
        check_fixed(row, agency) if row[0] < fixed_below else check_columns(row, agency)
        for row in light
    ]
    if signed:
        found += map_fn(lambda row: check_signed(row, rules), signed)  # type: ignore[arg-type]
    return [t for t in found if t is not None]


def check_targets(targets: Iterable[Target], found: dict[str, tuple[int, str]]) -> None:
    """Each target must be a record of this log, earlier than the record naming it,
    of the same worker. ``found``: ``{record id: (index, pwid)}`` of the targets.

    Raises:
        DamagedLogError: ``entry_bad_target``.
    """
    for idx, target, pwid in targets:
        where = found.get(target)
        if where is None or where[0] >= idx or where[1] != pwid:
            raise _damaged(
                "entry_bad_target",
                f"entry {idx} names record {target[:40]!r}, which is not an earlier record of "
                "the same worker in this log",
            )
