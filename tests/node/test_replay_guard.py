"""The replay guard: a signature once within its window, forgotten after, bounded."""

from __future__ import annotations

import pytest

from pel.node.access.replay_guard import ReplayGuard
from pel.node.errors import BusyError


def test_a_signature_is_taken_once_while_its_request_is_fresh() -> None:
    guard = ReplayGuard(window=300)
    assert guard.first_sight(b"a", 1000, now=1000)
    assert not guard.first_sight(b"a", 1000, now=1000)
    assert not guard.first_sight(b"a", 1000, now=1300)  # the last second the time is good
    assert guard.first_sight(b"b", 1000, now=1001)
    # Past its window a request is refused for its time: its signature is let go.
    assert guard.first_sight(b"c", 1301, now=1301)
    assert len(guard) == 1


def test_a_full_guard_refuses_rather_than_forgets() -> None:
    guard = ReplayGuard(window=300, capacity=2)
    assert guard.first_sight(b"a", 1000, now=1000)
    assert guard.first_sight(b"b", 1100, now=1100)
    with pytest.raises(BusyError) as info:
        guard.first_sight(b"c", 1200, now=1200)
    assert (info.value.code, info.value.http_status) == ("busy", 429)
    assert not guard.first_sight(b"a", 1000, now=1200)  # still held: its copy is refused
    assert guard.first_sight(b"c", 1301, now=1301)  # "a" left the window: room again
    assert len(guard) == 2


def test_a_guard_needs_a_window_and_room() -> None:
    for window, capacity in ((0, 10), (300, 0)):
        with pytest.raises(ValueError):
            ReplayGuard(window=window, capacity=capacity)
