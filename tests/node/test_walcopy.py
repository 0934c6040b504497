"""A serving node copies SQLite's write-ahead log back in the background, not its commits."""

from __future__ import annotations

import threading
import time

from pel.node.agency_node import Node
from pel.node.serving.wal_upkeep import WalCopy
from tests import factories as f


def test_a_started_node_copies_its_wal_back_and_stops_doing_so(
    sqlite_node: tuple[Node, str],
) -> None:
    node, _ = sqlite_node
    node.stop()
    started = Node.open(node.directory)
    try:
        assert started.wal_copy is not None
        started.wal_copy.interval = 0.05
        started.start(check=False)
        started.submit([f.contribution() for _ in range(200)])
        deadline = time.monotonic() + 20
        while started.wal_copy.copies < 3:
            assert time.monotonic() < deadline, "no copy of the write-ahead log was made"
            time.sleep(0.01)
        assert any(t.name == "pel-wal-copy" for t in threading.enumerate())
    finally:
        started.stop()
    assert not any(t.name == "pel-wal-copy" for t in threading.enumerate())


def test_one_copy_takes_every_page_the_commits_left(sqlite_node: tuple[Node, str]) -> None:
    node, _ = sqlite_node
    node.submit([f.contribution() for _ in range(300)])
    node.log.integrate()
    copier = WalCopy(node.engine)
    copier.tick()
    assert copier.copies == 1
    assert copier.last is not None
    frames, copied = copier.last
    assert frames > 10  # the records, their indexes, the tiles: none copied before
    assert copied == frames  # no reader held any back
