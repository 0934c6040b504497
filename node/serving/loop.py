"""A background thread around one step: the step runs every ``interval`` seconds, or
sooner when poked, and the thread stops between steps. The sequencer, the
cosignature collector and the write-ahead log's copy are each one of these."""

from __future__ import annotations

import threading


class WakeLoop:
    """Runs ``tick`` in a daemon thread until ``stop``.

    Subclasses implement ``tick`` (one step, handling its own failures so the loop
    goes on) and name their thread with ``thread_name``.

    Args:
        interval: Longest wait, in seconds, between two steps.
    """

    thread_name = "pel-loop"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """One step of the loop."""
        raise NotImplementedError

    def stopping(self) -> bool:
        """Whether ``stop`` was called (a long step may end early)."""
        return self._stop.is_set()

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` within a step, or less if ``stop`` is called meanwhile."""
        self._stop.wait(seconds)

    def poke(self) -> None:
        """Run the step soon rather than after up to ``interval`` seconds."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.tick()

    def start(self, timeout: float | None = None) -> None:
        """Start the thread; a second call while it runs does nothing, and a loop that was
        stopped starts again once the thread of its last step has ended (waited for up to
        ``timeout`` seconds, by default ``interval`` + 10).

        Raises:
            RuntimeError: The stopped loop's last step is still running.
        """
        old = self._thread
        if old is not None and old.is_alive():
            if not self._stop.is_set():
                return
            old.join(self.interval + 10.0 if timeout is None else timeout)
            if old.is_alive():
                raise RuntimeError(f"{self.thread_name}: the last step is still running")
        self._stop.clear()
        self._wake.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop after its current step and wait up to ``timeout`` seconds for it
        (a step still running after that is waited for by a later ``start``)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if not thread.is_alive():
                self._thread = None
