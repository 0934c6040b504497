"""The serving node's background copy of SQLite's write-ahead log into the database file.

SQLite's own copy (a "WAL checkpoint", no relation to a log's signed checkpoints) runs
inside whichever commit crosses ``wal_autocheckpoint`` pages, and at millions of records
that commit waits while index pages are written back all over the file: the clients of
an ingest wait with it. This thread copies what is there every second instead, so the
commits never reach the threshold. It never blocks a writer, and a copy that readers
hold back is simply finished by a later one.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from pel.ledger.storage.engine import write_back_wal
from pel.node.serving.loop import WakeLoop

log = logging.getLogger(__name__)


class WalCopy(WakeLoop):
    """Runs :func:`ledger.storage.engine.write_back_wal` every ``interval`` seconds."""

    thread_name = "pel-wal-copy"

    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.engine = engine
        self.copies = 0
        self.last: tuple[int, int] | None = None  # (pages in the WAL, pages copied)

    def tick(self) -> None:
        try:
            self.last = write_back_wal(self.engine)
            self.copies += 1
        except SQLAlchemyError as exc:  # a busy or vanished database: next time
            log.warning("copying the write-ahead log back failed: %s", exc.__class__.__name__)
