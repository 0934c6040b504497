"""The sequencer: a loop around one step, ``sequence_once``, that integrates and publishes.

It runs in a background thread of the serving process. While entries are waiting
it publishes a checkpoint at least every ``interval`` seconds (sooner when poked
after an append); when nothing is new it publishes nothing. While entries keep coming
in bulk, checkpoints are spaced further apart, so that each covers more of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pel.ledger.errors import ConflictError, DamagedLogError
from pel.ledger.tlog.checkpoint import SignedCheckpoint
from pel.ledger.tlog.log import Log
from pel.node import metrics
from pel.node.serving.loop import WakeLoop

log = logging.getLogger("pel.sequencer")


class Sequencer(WakeLoop):
    """Integrates a log's new entries and publishes checkpoints.

    Args:
        log: The log (with a checkpoint signer).
        interval: Longest wait, in seconds, between checkpoints while entries wait.
        min_gap: Shortest gap between two checkpoints, so bursts share one.
        busy_gap: The gap after a checkpoint that covered ``busy_entries`` or more: a
            log taking records that fast spends less on checkpoints (their index
            nodes, partial tiles, signature and commit, and the witnesses' rounds) the
            more entries each covers, and its submitters are waiting on a queue anyway.
        busy_entries: Entries in one checkpoint from which the next waits ``busy_gap``.
    """

    thread_name = "pel-sequencer"

    def __init__(
        self,
        log: Log,
        *,
        interval: float = 0.5,
        min_gap: float = 0.05,
        busy_gap: float = 0.25,
        busy_entries: int = 1024,
    ) -> None:
        super().__init__(interval)
        self.log = log
        self.min_gap = min_gap
        self.busy_gap = busy_gap
        self.busy_entries = busy_entries
        #: Entries the last checkpoint this sequencer published added.
        self.last_added = 0
        self._published = threading.Condition()
        self._size = log.tree_size()
        self.failures = 0
        #: ``time.monotonic()`` when a new checkpoint was last published or found (None: not yet).
        self.published_at: float | None = None
        #: Called after each new checkpoint (e.g. to ask the witnesses at once).
        self.on_publish: Callable[[], None] | None = None
        self._commit_seconds = metrics.COMMIT_SECONDS.labels(log.origin)
        self._checkpoints = metrics.CHECKPOINTS.labels(log.origin)

    @property
    def size(self) -> int:
        """Tree size of the latest checkpoint this sequencer knows of."""
        return self._size

    def sequence_once(self) -> SignedCheckpoint | None:
        """Integrate what is new and publish one checkpoint; None when nothing was new."""
        started = time.perf_counter()
        try:
            checkpoint = self.log.integrate()
        except ConflictError:
            checkpoint = self.log.latest()  # another process published; follow it
        if checkpoint is not None and checkpoint.checkpoint.size != self._size:
            self._commit_seconds.observe(time.perf_counter() - started)
            self.last_added = checkpoint.checkpoint.size - self._size
            self._checkpoints.inc()
            self.published_at = time.monotonic()
            with self._published:
                self._size = checkpoint.checkpoint.size
                self._published.notify_all()
            if self.on_publish is not None:
                self.on_publish()
        return checkpoint

    def wait_for(self, size: int, timeout: float) -> bool:
        """Block until a checkpoint covers ``size`` entries; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._published:
            while self._size < size:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._published.wait(left)
        return True

    def tick(self) -> None:
        """Publish until nothing is new; a failure is retried with a growing back-off
        (nothing acknowledged is lost either way). Entries this process did not append
        are checked as signed records of this log before a checkpoint covers them
        (``Log.integrate``): a damaged log is never signed over."""
        try:
            while self.sequence_once() is not None and not self.stopping():
                busy = self.last_added >= self.busy_entries
                self.pause(self.busy_gap if busy else self.min_gap)
            self.failures = 0
        except DamagedLogError as exc:
            # Not a passing failure: the stored log holds what is not a record of this log
            # (or its counters disagree with its entries). The log takes no more records;
            # said once, without a traceback, and tried again slowly.
            self.failures += 1
            if self.failures == 1:
                log.error(
                    "integration refused: %s [%s]; no record is taken until `pel check` passes",
                    exc.message,
                    exc.code,
                )
            time.sleep(min(5.0, 0.1 * 2**self.failures))
        except Exception:
            self.failures += 1
            log.exception("integration failed (attempt %d); retrying", self.failures)
            time.sleep(min(5.0, 0.1 * 2**self.failures))
