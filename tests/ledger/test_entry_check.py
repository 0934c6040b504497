"""Reading a stored row's columns against its entry: the full read, the fast read of an
entry fixed by the signed root, and the signed-record check of pending entries."""

from __future__ import annotations

import pytest

from pel.crypto.jcs import canonicalize
from pel.crypto.keys import SigningKey
from pel.crypto.record import sign_record
from pel.ledger.errors import DamagedLogError
from pel.ledger.tlog.entry_check import (
    EntryRules,
    check_columns,
    check_fixed,
    check_rows,
    check_signed,
    check_targets,
)
from tests import factories as f

AGENCY = "MY-PERKESO"
KEY = SigningKey.generate()
RULES = EntryRules(AGENCY, (KEY.public_key,))


def _row(record: dict, idx: int = 7, **columns: str) -> tuple[int, str, str, str, bytes]:
    entry = canonicalize(sign_record(f.with_issuer(record, AGENCY), KEY))
    return (
        idx,
        columns.get("record_id", record["id"]),
        columns.get("pwid", record["pwid"]),
        columns.get("type", record["type"]),
        entry,
    )


def _code(fn: object, *args: object) -> str:
    with pytest.raises(DamagedLogError) as caught:
        fn(*args)  # type: ignore[operator]
    return caught.value.code


@pytest.mark.parametrize("check", [check_columns, check_fixed])
def test_columns_that_are_the_entrys_pass_and_others_are_named(check: object) -> None:
    record = f.contribution(body={"employer": 'EMP-"id":"x"'})  # a look-alike in the body
    assert check(_row(record), AGENCY) is None  # type: ignore[operator]
    for column in ("record_id", "pwid", "type"):
        row = _row(record, **{column: "changed"})
        assert _code(check, row, AGENCY) == "entry_column_mismatch"
    assert _code(check, _row(record), "TH-SSO") == "entry_foreign_issuer"


def test_an_id_with_an_escape_is_read_in_full() -> None:
    record = f.contribution(id='rec-"quoted"')
    assert check_fixed(_row(record), AGENCY) is None
    assert _code(check_fixed, _row(record, record_id="rec-"), AGENCY) == "entry_column_mismatch"


def test_targets_are_returned_and_must_be_earlier_records_of_the_same_worker() -> None:
    target = f.contribution()
    amend = f.amendment(target)
    row = _row(amend, idx=9)
    assert check_fixed(row, AGENCY) == (9, target["id"], target["pwid"])
    assert check_signed(row, RULES) == (9, target["id"], target["pwid"])
    check_targets([(9, target["id"], target["pwid"])], {target["id"]: (3, target["pwid"])})
    for found in ({}, {target["id"]: (9, target["pwid"])}, {target["id"]: (3, "other")}):
        assert _code(check_targets, [(9, target["id"], target["pwid"])], found) == (
            "entry_bad_target"
        )


def test_pending_entries_must_be_signed_canonical_records_of_the_log() -> None:
    record = f.contribution()
    row = _row(record)
    assert check_signed(row, RULES) is None
    other = EntryRules(AGENCY, (SigningKey.generate().public_key,))
    assert _code(check_signed, row, other) == "entry_bad_signature"
    loose = (*row[:4], row[4].replace(b'","', b'", "', 1))
    assert _code(check_signed, loose, RULES) == "entry_not_record"
    assert _code(check_signed, (*row[:4], b"[]"), RULES) == "entry_not_record"
    # check_rows: lightly below signed_from, as signed records from it on.
    assert check_rows([row], agency=AGENCY, rules=other, signed_from=8) == []
    with pytest.raises(DamagedLogError):
        check_rows([row], agency=AGENCY, rules=other, signed_from=7)
