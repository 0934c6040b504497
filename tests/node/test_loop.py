"""``WakeLoop``: the step runs when poked, once per thread, and ``stop`` ends the thread."""

from __future__ import annotations

import threading
import time

from node.loop import WakeLoop


class Counting(WakeLoop):
    thread_name = "pel-test-loop"

    def __init__(self, interval: float) -> None:
        super().__init__(interval)
        self.ticks = 0
        self.ticked = threading.Event()

    def tick(self) -> None:
        self.ticks += 1
        self.ticked.set()


def test_poke_runs_the_step_before_the_interval() -> None:
    loop = Counting(interval=60.0)
    loop.start()
    try:
        assert not loop.ticked.wait(0.2)  # a minute's interval: nothing yet
        loop.poke()
        assert loop.ticked.wait(5.0)
        assert loop.ticks == 1
    finally:
        loop.stop(5.0)


def test_stop_ends_the_thread_and_start_is_once() -> None:
    loop = Counting(interval=0.01)
    loop.start()
    loop.start()
    names = [t.name for t in threading.enumerate()].count("pel-test-loop")
    assert names == 1
    deadline = time.monotonic() + 5.0
    while loop.ticks < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert loop.ticks >= 3
    assert not loop.stopping()
    loop.stop(5.0)
    assert loop.stopping()
    assert "pel-test-loop" not in [t.name for t in threading.enumerate()]
    after = loop.ticks
    time.sleep(0.05)
    assert loop.ticks == after
