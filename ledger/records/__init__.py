"""Record schemas and validation: what a log entry may contain."""

from pel.ledger.records.types import BODIES, RECORD_TYPES, RECORD_VERSION, Record, RecordRef
from pel.ledger.records.validate import (
    MAX_ENTRY_BYTES,
    check_entry_size,
    encode_entry,
    record_error,
    validate_record,
)

__all__ = [
    "BODIES",
    "MAX_ENTRY_BYTES",
    "RECORD_TYPES",
    "RECORD_VERSION",
    "Record",
    "RecordRef",
    "check_entry_size",
    "encode_entry",
    "record_error",
    "validate_record",
]
