"""Turning validated records into entries the log can append."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.records import check_entry_size, encode_entry


class PreparedRecord(NamedTuple):
    """A validated, signed record ready to append.

    (A named tuple rather than a frozen dataclass: a node builds thousands a second,
    and a frozen dataclass's ``__init__`` costs several times a tuple's.)

    Attributes:
        record_id: The record's ``id`` (the issuer is the log's own agency).
        pwid: The worker's PWID; empty for rules, agreements and withdrawals.
        type: The record type.
        entry: The exact bytes the log stores: RFC 8785 canonical JSON.
        leaf_hash: The entry's RFC 9162 leaf hash.
        target: For amendments and revocations, the id of the record they name; for a
            withdrawal, the id of the agreement it leaves.
        loose_time: ``issued_at`` was filled in by the node, so a resubmission of
            the same draft (a new ``issued_at``) still counts as the same record.
    """

    record_id: str
    pwid: str
    type: str
    entry: bytes
    leaf_hash: bytes
    target: str | None = None
    loose_time: bool = False


def prepare_record(
    record: Mapping[str, Any], *, loose_time: bool = False, entry: bytes | None = None
) -> PreparedRecord:
    """Encode a validated, signed record for :meth:`ledger.log.Log.append`.

    Args:
        record: The record, ``sig`` included.
        loose_time: See :class:`PreparedRecord`.
        entry: The record's canonical JSON when the caller has already encoded it
            (``crypto.record.signed_entry``); only its size is checked here.
    """
    entry = encode_entry(record) if entry is None else check_entry_size(entry)
    body = record["body"]
    kind = record["type"]
    if kind in ("amendment", "revocation"):
        target = body["target"]["id"]
    elif kind == "withdrawal":
        target = body["agreement"]["id"]
    else:
        target = None
    # In field order (record_id, pwid, type, entry, leaf_hash, target, loose_time):
    # positional arguments, as a node prepares thousands a second.
    return PreparedRecord(
        record["id"],
        record.get("pwid", ""),  # public-law records carry no worker
        kind,
        entry,
        hash_leaf(entry),
        target,
        loose_time,
    )


class Appended(NamedTuple):
    """Where a record landed: its index and leaf hash, and whether it was already there."""

    index: int
    leaf_hash: bytes
    record_id: str
    duplicate: bool = False
