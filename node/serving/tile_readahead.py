"""Reading a log's stored tiles once after start-up, in the background.

A proof reads one full tile and its stored inner nodes per tile level. Right after a
start, those pages of a big log are mostly on disk, and a proof that waits on several
disk reads takes milliseconds instead of microseconds. Reading every tile once (about
16 KiB per 256 entries: 640 MB at 10 million entries) puts them in the operating
system's file cache, as PostgreSQL's ``pg_prewarm`` does for its buffers. The reads
are short, one after the other, and stop with the node; the upper levels are read
first, and a log bigger than the budget (``prewarm_max_bytes``) has only its first
level-0 tiles read.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pel.ledger.tlog.log import Log

log = logging.getLogger("pel.prewarm")


class TilePrewarm:
    """One background pass of :meth:`ledger.log.Log.warm_tiles`.

    ``status()`` says how far it is: ``running``, ``done``, ``stopped`` or ``failed``,
    with the bytes read so far.
    """

    def __init__(self, log_: Log, budget: int | None = None) -> None:
        self.log = log_
        self.budget = budget
        self.state = "idle"
        self.bytes_read = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "bytes": self.bytes_read}

    def start(self) -> None:
        """Start the pass (once; a second call does nothing)."""
        if self._thread is None:
            self.state = "running"
            self._thread = threading.Thread(target=self._run, name="pel-prewarm", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current read and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        began = time.monotonic()
        try:
            for done in self.log.warm_tiles(budget=self.budget):
                self.bytes_read = done
                if self._stop.is_set():
                    self.state = "stopped"
                    return
        except Exception:  # the node serves on without it; proofs only read from disk
            self.state = "failed"
            log.exception("reading the stored tiles ahead failed")
            return
        self.state = "done"
        log.info(
            "stored tiles read ahead: %d bytes in %.1f s",
            self.bytes_read,
            time.monotonic() - began,
        )
