"""Validating records and turning them into log entries.

``validate_record`` is the one gate every record passes before it is signed or
appended; ``encode_entry`` gives the exact bytes the log stores and hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pel.crypto.errors import CanonicalJSONError
from pel.crypto.jcs import canonicalize
from pel.ledger.errors import RecordError
from pel.ledger.merkle.tiles import MAX_ENTRY_BYTES
from pel.ledger.records.types import LAW_TYPES, RECORD_TYPES, Record

_RECORD = TypeAdapter(Record)

# pydantic's own error types, renamed to pel's stable codes; our custom validators
# already raise with pel codes (``bad_money`` …) and pass through unchanged.
_CODES = {
    "extra_forbidden": "unknown_field",
    "missing": "missing_field",
    "union_tag_invalid": "unknown_type",
    "union_tag_not_found": "missing_field",
    "literal_error": "bad_value",
    "too_long": "bad_length",
    "too_short": "bad_length",
    "string_too_long": "bad_length",
    "string_too_short": "bad_length",
}


def _field(loc: tuple[Any, ...]) -> str:
    # Drop pydantic's union-branch names ("contribution") so paths read like the JSON.
    parts = [str(p) for p in loc if p not in RECORD_TYPES or loc.index(p) != 0]
    return ".".join(parts)


# pydantic's wording for a wrong JSON type, said in JSON's terms.
_TYPE_WORDS = {
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "bool_type": "must be true or false",
    "int_type": "must be a whole JSON number",
    "string_type": 'must be a JSON string (amounts are decimal strings such as "12.50")',
}


def _say(kind: str, err: Any, field: str) -> str:
    """What went wrong with ``field``, without pydantic's phrasing."""
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected")
        return f"must be {expected}" if expected else "is not one of the allowed values"
    msg = str(err["msg"]).removeprefix("Value error, ")
    # A validator may already name the field ("v must be …"): say it once.
    return msg.removeprefix(f"{field} ").removeprefix(f"{field}: ")


def record_error(exc: ValidationError) -> RecordError:
    """The first problem of a pydantic ``ValidationError``, as a pel ``RecordError``."""
    err = exc.errors(include_url=False)[0]
    kind = err["type"]
    code = _CODES.get(kind) or (kind if kind.startswith("bad_") else "wrong_type")
    field = _field(tuple(err.get("loc", ())))
    if code == "unknown_type":
        msg = f"unknown record type; known types: {', '.join(RECORD_TYPES)}"
    elif code == "unknown_field":
        msg = f"unknown field {field!r}"
    elif code == "missing_field":
        msg = f"missing field {field or 'type'!r}"
    else:
        said = _say(kind, err, field)
        msg = f"{field}: {said}" if field else said
    return RecordError(msg, code=code, field=field or None)


def validate_record(record: object, *, signed: bool = True) -> Mapping[str, Any]:
    """Check a record against its type's schema.

    Args:
        record: The decoded JSON value.
        signed: Whether a ``sig`` is required (drafts are validated unsigned,
            completed by the node, then signed).

    Returns:
        The same mapping, unchanged: strict validation means what was checked is
        exactly what will be stored and signed.

    Raises:
        RecordError: with a stable code (``unknown_field``, ``bad_money`` …).
    """
    if not isinstance(record, dict):
        raise RecordError("a record must be a JSON object", code="not_an_object")
    try:
        _RECORD.validate_python(record, strict=True)
    except ValidationError as exc:
        raise record_error(exc) from None
    if signed and "sig" not in record:
        raise RecordError("record is not signed: missing field 'sig'", code="missing_signature")
    if not signed and "sig" in record:
        raise RecordError("a draft must not carry a 'sig'", code="unexpected_signature")
    body = record["body"]
    if record["type"] in LAW_TYPES:
        _check_law(record)
    elif (
        record["type"] in ("amendment", "revocation")
        and body["target"]["issuer"] != record["issuer"]
    ):
        raise RecordError(
            "an agency can only amend or revoke its own records",
            code="foreign_target",
            field="body.target.issuer",
        )
    return record


def _check_law(record: Mapping[str, Any]) -> None:
    """The checks of public-law records the schema cannot make: a rules table field by
    field (with its path), a state's rules only by that state's agency, an agreement's
    parties and dates."""
    # Imported here: portability's modules use the record field types of this package.
    from pel.ledger.errors import RulesError
    from pel.ledger.portability.agreements import check_terms
    from pel.ledger.portability.rules import check_table

    if record["type"] == "rules":
        try:
            check_table(record["body"])
        except RulesError as exc:
            raise RulesError(
                f"body.{exc.message}", code=exc.code, field=f"body.{exc.field or ''}".rstrip(".")
            ) from None
        state, issuer = record["body"]["state"], record["issuer"]
        if issuer[:2] != state:
            raise RulesError(
                f"{issuer} publishes the rules of its own state, {issuer[:2]}, not of {state}",
                code="foreign_state",
                field="body.state",
            )
    elif record["type"] == "agreement":
        check_terms(record)


def encode_entry(record: Mapping[str, Any]) -> bytes:
    """The log entry for a record: its RFC 8785 canonical JSON, at most 65 535 bytes."""
    try:
        entry = canonicalize(record)
    except CanonicalJSONError as exc:
        raise RecordError(str(exc), code="bad_json") from None
    return check_entry_size(entry)


def check_entry_size(entry: bytes) -> bytes:
    """``entry`` itself, if it fits an entry bundle (at most 65 535 bytes).

    Raises:
        RecordError: ``record_too_large``.
    """
    if len(entry) > MAX_ENTRY_BYTES:
        raise RecordError(
            f"record is {len(entry)} bytes as canonical JSON; the limit is {MAX_ENTRY_BYTES}",
            code="record_too_large",
        )
    return entry
