"""Reading a back office's filing: JSON Lines or CSV rows, turned into record drafts.

CSV columns name record fields by dotted path, e.g.::

    type,id,pwid,body.employer,body.period,body.insured_earnings,body.currency,body.contributions.old_age

Every cell is a string, as pel's money, dates and codes are; empty cells are left
out. ``v`` becomes a number, ``body.exportable`` a boolean, ``body.periods`` a
``;``-separated list, and a cell starting with ``[`` or ``{`` is read as JSON.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pel.ledger.errors import RecordError


class RawJSON(NamedTuple):
    """One JSON Lines row as its bytes, left for the node to parse (node/filings/submit.py).

    (A named tuple: a filing has hundreds of thousands of rows, and a frozen dataclass
    costs several times as much to make.)"""

    text: bytes


Row = tuple[int, Any]
"""``(line, record)``: a decoded record, a :class:`RawJSON` row, or the ``RecordError``
that refused the row while it was read."""


def _cell(column: str, value: str) -> Any:
    if column == "v":
        return int(value) if value.isdigit() else value
    if column == "body.exportable":
        return {"true": True, "false": False}.get(value.lower(), value)
    if column == "body.periods":
        return [p.strip() for p in value.split(";") if p.strip()]
    if value[:1] in "[{":
        return json.loads(value)
    return value


def _cell_count_error(row: dict[str | None, Any], header: int) -> RecordError | None:
    # DictReader files surplus cells under the key None and fills missing ones with None.
    extra = row.get(None)
    if extra:
        cells = header + len(extra)
        return RecordError(
            f"row has {cells} cells, more than the header's {header}", code="bad_csv"
        )
    missing = sum(1 for k, v in row.items() if k is not None and v is None)
    if missing:
        return RecordError(
            f"row has {header - missing} cells, fewer than the header's {header}", code="bad_csv"
        )
    return None


def _csv_rows(path: Path) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for row in reader:
            line = reader.line_num
            record: dict[str, Any] = {}
            problem = _cell_count_error(row, len(reader.fieldnames or ()))
            if problem is not None:
                yield line, problem
                continue
            try:
                for column, value in row.items():
                    if value == "":
                        continue
                    *parents, leaf = column.strip().split(".")
                    node = record
                    for p in parents:
                        node = node.setdefault(p, {})
                    node[leaf] = _cell(column.strip(), value)
            except (RecordError, ValueError) as exc:
                # The line number travels beside the error; the message does not repeat it.
                message = exc.message if isinstance(exc, RecordError) else str(exc)
                yield line, RecordError(message, code="bad_csv")
                continue
            yield line, record


def _raw_jsonl_rows(path: Path) -> Iterator[Row]:
    with path.open("rb") as f:
        for line, text in enumerate(f, 1):
            text = text.strip()
            if text:
                yield line, RawJSON(text)


def _jsonl_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                yield line, json.loads(text)
            except ValueError as exc:
                yield line, RecordError(f"not JSON: {exc}", code="bad_json")


def count_rows(path: Path) -> int:
    """How many rows :func:`read_filing` gives for ``path`` (its non-blank lines for JSON
    Lines, counted without making a row of each)."""
    if path.suffix.lower() == ".csv":
        return sum(1 for _ in _csv_rows(path))
    with path.open("rb") as f:
        return sum(1 for text in f if not text.isspace())


def read_filing(path: Path, *, raw: bool = False) -> Iterator[Row]:
    """Rows of a ``.csv`` or JSON Lines file, each with its line number.

    With ``raw``, JSON Lines rows are :class:`RawJSON` (their bytes, left for the node to
    parse; see node/filings/submit.py); CSV rows are always decoded here.
    """
    if path.suffix.lower() == ".csv":
        return _csv_rows(path)
    return _raw_jsonl_rows(path) if raw else _jsonl_rows(path)
