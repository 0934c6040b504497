"""The signed requests that change something, remembered while they could be replayed.

A signed request is good at one node for ±``MAX_SKEW`` seconds around its time
(``node.access.policy`` checks it). Within that window a copy of a ``POST`` would
otherwise act twice.
The node therefore keeps the signature of every signed request other than GET and HEAD
that it granted, until the request's time is past the window (after which the time
check refuses the copy anyway), and refuses one it has seen. The nonce in every
signature (``crypto.request``) keeps two honest requests apart.

Memory is bounded: at most ``capacity`` signatures (about 250 bytes each) are held; with
the table full of signatures still in their window, a new signed write is refused
(429) rather than one forgotten, since forgetting would let its copy through. The
table is the process's own: a node served by one process (``pel run``) sees every
request. GET and HEAD are left out: they change nothing, and they are most of a
mirror's traffic.
"""

from __future__ import annotations

import heapq
import threading

from pel.node.errors import BusyError

#: Seconds a signed request's time may be from the node's, either way: room for clocks
#: a little apart and a slow network, and the window in which a copy must be refused.
MAX_SKEW = 300
DEFAULT_CAPACITY = 50_000


class ReplayGuard:
    """Signatures of granted signed writes, each until its request leaves the window.

    Args:
        window: Seconds a request stays acceptable after its own time (``MAX_SKEW``).
        capacity: At most this many signatures are held.
    """

    def __init__(self, window: int = MAX_SKEW, capacity: int = DEFAULT_CAPACITY) -> None:
        if window <= 0 or capacity <= 0:
            raise ValueError("a replay guard needs a positive window and capacity")
        self.window = window
        self.capacity = capacity
        self._until: dict[bytes, int] = {}
        self._expiry: list[tuple[int, bytes]] = []  # a heap: the soonest to leave first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._until)

    def first_sight(self, sig: bytes, signed_at: int, *, now: int) -> bool:
        """Record ``sig`` of a request signed at ``signed_at``; False if already held.

        Raises:
            BusyError: the table is full of signatures still in their window (429).
        """
        with self._lock:
            self._forget_before(now)
            if sig in self._until:
                return False
            if len(self._until) >= self.capacity:
                raise BusyError(
                    "this node received more signed requests that change something in the "
                    f"last {2 * self.window} s than it can check for copies; try again shortly"
                )
            until = signed_at + self.window
            self._until[sig] = until
            heapq.heappush(self._expiry, (until, sig))
            return True

    def _forget_before(self, now: int) -> None:
        while self._expiry and self._expiry[0][0] < now:
            _, sig = heapq.heappop(self._expiry)
            del self._until[sig]
