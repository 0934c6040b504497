"""The sequencer spaces checkpoints ``min_gap`` apart, and ``busy_gap`` apart while each
covers ``busy_entries`` or more: a log taking records in bulk publishes fewer, larger
checkpoints; a trickle of records is checkpointed as soon as before."""

from __future__ import annotations

import pytest

from pel.node.agency_node import Node
from pel.node.serving.sequencer import Sequencer
from tests import factories as f


def gaps_after(node: Node, batches: list[int], busy_entries: int) -> list[float]:
    """The pauses a sequencer takes while batches of these sizes arrive one per pause."""
    sequencer = Sequencer(node.log, min_gap=0.01, busy_gap=0.2, busy_entries=busy_entries)
    pending = list(batches)
    taken: list[float] = []

    def pause(seconds: float) -> None:
        taken.append(seconds)
        if pending:
            node.submit([f.contribution() for _ in range(pending.pop(0))])

    node.submit([f.contribution() for _ in range(pending.pop(0))])
    sequencer.pause = pause  # type: ignore[method-assign]
    sequencer.tick()
    assert node.log.tree_size() == sum(batches)
    return taken


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        ([3, 3, 3], [0.01, 0.01, 0.01]),
        ([3, 8, 3, 2], [0.01, 0.2, 0.01, 0.01]),
        ([8, 9, 3], [0.2, 0.2, 0.01]),
    ],
)
def test_checkpoints_of_many_entries_are_spaced_further(
    sqlite_node: tuple[Node, str], batches: list[int], expected: list[float]
) -> None:
    node, _ = sqlite_node
    assert gaps_after(node, batches, busy_entries=8) == expected
