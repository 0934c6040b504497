"""The witnesses' cosignature lines a log keeps for its checkpoints, checked before
they are served.

The collector stores only lines that verified, but the ``cosignatures`` table is as
open to change as any other: a line put in or changed would be served beside the
checkpoint, and a verifier that knows the witness refuses a note whose line by a key
it knows does not verify. So each line is verified (memoised) against the witness keys
the node knows before it is served, and the start-up check verifies the lines of the
latest checkpoint (every line with ``pel check --signatures``), and finds lines stored
for a size the log has no checkpoint of.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from pel.crypto.cosignature import verify_cosignature
from pel.crypto.errors import CryptoError
from pel.crypto.note import NoteVerifier, parse_signature_line
from pel.ledger.storage.models import CheckpointRow, CosignatureRow

COSIGNATURES = CosignatureRow.__table__
CHECKPOINTS = CheckpointRow.__table__

WitnessKeys = Mapping[tuple[str, bytes], NoteVerifier]
"""Witness verifiers by ``(name, key id)``."""


def line_problem(note: bytes, witness: str, line: bytes, keys: WitnessKeys) -> str | None:
    """Why a stored line is not a valid cosignature of ``note``'s checkpoint by a known
    witness key, under its row's ``witness`` column (``name+keyid``); None if it is."""
    try:
        sig = parse_signature_line(line.decode().rstrip("\n"))
    except (CryptoError, UnicodeDecodeError):
        return "is not a signature line"
    if f"{sig.name}+{sig.key_id.hex()}" != witness:
        return f"is not by the witness its row names ({witness[:60]!r})"
    verifier = keys.get((sig.name, sig.key_id))
    if verifier is None:
        return f"is by {sig.name!r}, whose key no trust list applied here gives"
    try:
        verify_cosignature(note.split(b"\n\n", 1)[0] + b"\n", sig, verifier)
    except CryptoError as exc:
        return exc.message
    return None


@dataclass
class CosignatureCheck:
    """The witness keys lines are checked with (None: lines are served unchecked, as
    by a log used outside a node), and the lines already found good."""

    keys: WitnessKeys | None = None
    _good: OrderedDict[tuple[int, bytes], None] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def served(self, size: int, note: bytes, lines: list[tuple[str, bytes]]) -> list[bytes]:
        """The lines of checkpoint ``size`` (``(witness, line)`` rows) that verify."""
        keys = self.keys
        if keys is None:
            return [line for _, line in lines]
        out = []
        for witness, line in lines:
            key = (size, line)
            with self._lock:
                good = key in self._good
            if not good:
                if line_problem(note, witness, line, keys) is not None:
                    continue
                with self._lock:
                    self._good[key] = None
                    while len(self._good) > 8192:
                        self._good.popitem(last=False)
            out.append(line)
        return out


def check_stored(
    conn: Any, keys: WitnessKeys, latest: int, *, every: bool
) -> tuple[int, list[tuple[int, str, str]]]:
    """Check the stored lines: rows for a size with no checkpoint, and the lines of the
    checkpoint of size ``latest`` (of every checkpoint when ``every``).

    Returns:
        The lines verified, and each bad row as ``(size, witness, why)``.
    """
    bad: list[tuple[int, str, str]] = [
        (int(size), str(witness), "is for a size the log has no checkpoint of")
        for size, witness in conn.execute(
            select(COSIGNATURES.c.size, COSIGNATURES.c.witness).where(
                COSIGNATURES.c.size.not_in(select(CHECKPOINTS.c.size))
            )
        )
    ]
    c = COSIGNATURES.c
    query = select(c.size, c.witness, c.line, CHECKPOINTS.c.note).join(
        CHECKPOINTS, CHECKPOINTS.c.size == c.size
    )
    if not every:
        query = query.where(COSIGNATURES.c.size == latest)
    verified = 0
    for size, witness, line, note in conn.execute(query):
        why = line_problem(bytes(note), str(witness), bytes(line), keys)
        if why is None:
            verified += 1
        else:
            bad.append((int(size), str(witness), why))
    return verified, bad


def drop_rows(conn: Any, rows: list[tuple[int, str, str]]) -> None:
    """Delete the given ``(size, witness, …)`` rows."""
    for size, witness, _ in rows:
        conn.execute(
            COSIGNATURES.delete().where(
                COSIGNATURES.c.size == size, COSIGNATURES.c.witness == witness
            )
        )
