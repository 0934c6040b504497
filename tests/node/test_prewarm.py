"""Reading the stored tiles once after start-up: the pass runs, reports, stops, survives."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from pel.ledger.storage.tilefile import SLOT_SIZE
from pel.node.agency_node import Node
from pel.node.serving.tile_readahead import TilePrewarm
from tests import factories as f


def _wait(prewarm: TilePrewarm, states: set[str], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while prewarm.state not in states:
        assert time.monotonic() < deadline, f"prewarm still {prewarm.state}"
        time.sleep(0.01)


def test_a_started_node_reads_its_tiles_once(sqlite_node: tuple[Node, str]) -> None:
    node, _ = sqlite_node
    node.submit([f.contribution() for _ in range(300)])
    node.log.integrate()
    restarted = Node.open(node.directory)
    try:
        assert restarted.prewarm.status() == {"state": "idle", "bytes": 0}
        restarted.start(check=False)
        _wait(restarted.prewarm, {"done", "failed"})
        # One full level-0 tile, 44 hashes of the next, one level-1 hash, and the full
        # tile's slot in the tile-node file (its inner nodes: the file, not a row).
        read = 8192 + 44 * 32 + 32 + SLOT_SIZE
        assert restarted.prewarm.status() == {"state": "done", "bytes": read}
    finally:
        restarted.stop()


def test_the_setting_turns_it_off(sqlite_node: tuple[Node, str]) -> None:
    node, _ = sqlite_node
    node.stop()
    off = Node.open(node.directory, prewarm_tiles=False)
    try:
        off.start(check=False)
        time.sleep(0.2)
        assert off.prewarm.status() == {"state": "idle", "bytes": 0}
    finally:
        off.stop()


class _SlowLog:
    """A log whose pass reads forever, one step at a time, until told to stop."""

    def __init__(self) -> None:
        self.steps = 0
        self.started = threading.Event()
        self.budget: int | None = None

    def warm_tiles(self, budget: int | None = None) -> Iterator[int]:
        self.budget = budget
        while True:
            self.steps += 1
            self.started.set()
            time.sleep(0.01)
            yield self.steps * 100


def test_stop_ends_the_pass_between_two_reads() -> None:
    slow = _SlowLog()
    prewarm = TilePrewarm(slow, budget=123)  # type: ignore[arg-type]
    prewarm.start()
    assert slow.started.wait(10)
    assert slow.budget == 123  # the node's prewarm_max_bytes reaches the log
    prewarm.stop()
    assert prewarm.state == "stopped"
    steps = slow.steps
    time.sleep(0.05)
    assert slow.steps == steps  # nothing reads after stop
    assert prewarm.bytes_read == steps * 100  # the last read is counted


class _BrokenLog:
    def warm_tiles(self, budget: int | None = None) -> Iterator[int]:
        yield 10
        raise OSError("disk gone")


def test_a_failed_pass_is_reported_and_the_node_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    prewarm = TilePrewarm(_BrokenLog())  # type: ignore[arg-type]
    prewarm.start()
    _wait(prewarm, {"failed", "done"})
    assert prewarm.status() == {"state": "failed", "bytes": 10}
    prewarm.stop()
    assert "reading the stored tiles ahead failed" in caplog.text
