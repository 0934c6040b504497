"""``WakeLoop``: the step runs when poked, once per thread, ``stop`` ends the thread, and a
stopped loop starts again."""

from __future__ import annotations

import threading
import time

import pytest

from pel.node.serving.loop import WakeLoop


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


def test_a_stopped_loop_starts_again() -> None:
    loop = Counting(interval=60.0)
    loop.start()
    loop.stop(5.0)
    loop.start()
    try:
        assert not loop.stopping()
        assert [t.name for t in threading.enumerate()].count("pel-test-loop") == 1
        loop.poke()
        assert loop.ticked.wait(5.0)
        assert loop.ticks == 1
    finally:
        loop.stop(5.0)
    assert "pel-test-loop" not in [t.name for t in threading.enumerate()]


class Slow(Counting):
    def __init__(self, interval: float) -> None:
        super().__init__(interval)
        self.release = threading.Event()

    def tick(self) -> None:
        super().tick()
        self.release.wait(5.0)


def test_start_after_a_stop_that_timed_out_waits_for_the_last_step() -> None:
    loop = Slow(interval=0.01)
    loop.start()
    assert loop.ticked.wait(5.0)
    loop.stop(0.01)  # the step is still running: the thread outlives the stop
    assert [t.name for t in threading.enumerate()].count("pel-test-loop") == 1
    threading.Timer(0.1, loop.release.set).start()
    loop.start()  # waits for that step, then one thread runs again
    try:
        assert [t.name for t in threading.enumerate()].count("pel-test-loop") == 1
        assert not loop.stopping()
    finally:
        loop.stop(5.0)
    assert "pel-test-loop" not in [t.name for t in threading.enumerate()]


def test_start_refuses_while_the_stopped_loops_step_still_runs() -> None:
    loop = Slow(interval=0.01)
    loop.start()
    assert loop.ticked.wait(5.0)
    loop.stop(0.01)
    try:
        with pytest.raises(RuntimeError, match="still running"):
            loop.start(timeout=0.1)
    finally:
        loop.release.set()
        loop.stop(5.0)
    assert "pel-test-loop" not in [t.name for t in threading.enumerate()]


def test_pause_ends_early_when_the_loop_stops() -> None:
    loop = Counting(interval=60.0)
    stopper = threading.Timer(0.1, loop.stop)
    started = time.monotonic()
    stopper.start()
    loop.pause(30.0)
    assert time.monotonic() - started < 10.0
    stopper.join()
