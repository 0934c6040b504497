"""A copy of the witness's state outside the database: ``DIR/witness-state`` (0600).

The witness may cosign a log's checkpoint only if it is consistent with the one it
cosigned before, which the ``witness_state`` table records. A row rolled back to an
older checkpoint of the log, or deleted, would let it cosign a fork of what it already
cosigned, and nothing in the database can tell: an older row is as well signed by the
log as the newest, and so is an older copy of the whole database (a restored backup).
So the witness also writes the checkpoint to this file, synced, before the
cosignature leaves the node; the database's row must never be behind the file nor
disagree with it (``ledger.federation.witness``).

What it does not cover: someone who can write the node's directory can roll the file
back too, but can also read the witness key there and cosign anything.

Format (JSON)::

    {"format": "pel-witness-state/v1", "logs": {"<origin>": "<signed checkpoint note>"}}
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from pel.ledger.errors import DamagedLogError
from pel.node.trust.secret_files import read_secret

FILE = "witness-state"
FORMAT = "pel-witness-state/v1"

log = logging.getLogger("pel.witness")


class WitnessStateFile:
    """The copy, held in memory and written through (``held``/``hold``, the
    ``StateCopy`` the witness uses).

    Args:
        path: The file.
        seed: The database's rows (origin → note), to make the file from when there is
            none (a node made before the copy was kept): trusted once, then compared.
    """

    def __init__(self, path: Path, seed: Callable[[], Mapping[str, bytes]]) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.created = not path.exists()
        if self.created:
            self._logs = dict(seed())
            self._write()
            if self._logs:  # else a new node's, or one whose witness cosigned nothing yet
                count = len(self._logs)
                log.warning("made %s from the witness state in the database (%d logs)", path, count)
        else:
            self._logs = self._read()

    def _read(self) -> dict[str, bytes]:
        try:
            doc = json.loads(read_secret(self.path, "witness state copy"))
            if doc.get("format") != FORMAT or not isinstance(doc.get("logs"), dict):
                raise ValueError(f"not {FORMAT}")
            return {str(o): str(n).encode() for o, n in doc["logs"].items()}
        except (ValueError, AttributeError, UnicodeDecodeError) as exc:
            raise DamagedLogError(
                f"{self.path} is not a copy of the witness's state ({exc}); if it was lost, "
                "delete it and it is made again from the database, which then stands unchecked",
                code="witness_state_mismatch",
            ) from None

    def logs(self) -> dict[str, bytes]:
        """Every log's latest cosigned checkpoint, as the file holds it."""
        with self._lock:
            return dict(self._logs)

    def held(self, origin: str) -> bytes | None:
        with self._lock:
            return self._logs.get(origin)

    def hold(self, origin: str, note: bytes) -> None:
        """Keep ``note`` as ``origin``'s latest cosigned checkpoint, on disk before return.

        Raises:
            OSError: the file could not be written (the caller cosigns nothing).
        """
        with self._lock:
            before = self._logs.get(origin)
            self._logs[origin] = note
            try:
                self._write()
            except OSError:
                if before is None:
                    del self._logs[origin]
                else:
                    self._logs[origin] = before
                raise

    def _write(self) -> None:
        """Replace the file atomically: a new file synced, renamed over, the folder synced."""
        doc = {"format": FORMAT, "logs": {o: n.decode() for o, n in sorted(self._logs.items())}}
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(doc, indent=1).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
