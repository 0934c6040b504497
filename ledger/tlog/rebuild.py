"""Rebuilding a log's tiles from its entries, to compare with stored or served tiles.

Pure: the caller feeds leaf hashes in index order and compares what comes back
with the tiles it holds (the node's start-up check) or fetched (``pel verify``).
Memory stays O(log n): only the right edge of the tree is kept.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from pel.ledger.errors import MismatchError
from pel.ledger.merkle.builder import TreeBuilder
from pel.ledger.merkle.tiles import TILE_WIDTH

FULL_TILE_BYTES = TILE_WIDTH * 32

Coords = tuple[int, int]


class TileRebuilder:
    """Grows a tree from leaf hashes and hands out each tile once it is final."""

    def __init__(
        self, size: int = 0, edge: dict[int, bytes] | None = None, *, keep_nodes: bool = False
    ) -> None:
        """Start empty, or from a tree of ``size`` leaves whose partial tiles are ``edge``
        (a resumed audit: the right edge saved last time stands in for the old entries);
        ``keep_nodes``: also hand out full tiles' inner nodes (:meth:`take_nodes`)."""
        self._builder = TreeBuilder(size, edge or {}, keep_nodes=keep_nodes)

    @property
    def size(self) -> int:
        return self._builder.size

    def add(self, leaf_hashes: Sequence[bytes]) -> dict[Coords, bytes]:
        """Append leaf hashes; return the full tiles they completed."""
        self._builder.append(leaf_hashes)
        changed = self._builder.take_changed()
        return {c: d for c, d in changed.items() if len(d) == FULL_TILE_BYTES}

    def take_nodes(self) -> dict[Coords, bytes]:
        """The inner nodes of the full tiles completed since the last call."""
        return self._builder.take_nodes()

    def partial_tiles(self) -> dict[Coords, bytes]:
        """The partial tiles of the current size (one per level that has one)."""
        out: dict[Coords, bytes] = {}
        edge = self._builder.edge()
        level = 0
        while (count := self.size >> (8 * level)) > 0:
            if count % TILE_WIDTH:
                out[(level, count // TILE_WIDTH)] = edge[level]
            level += 1
        return out

    def root(self) -> bytes:
        return self._builder.root()

    def edge(self) -> dict[int, bytes]:
        """``{level: partial tile bytes}``: all a later rebuild needs to go on from here."""
        return self._builder.edge()


def first_difference(want: bytes, got: bytes, level: int, index: int) -> dict[str, Any]:
    """Where two versions of tile ``level/index`` part: the evidence of a mismatch.

    ``calculated`` is the hash rebuilt from the entries, ``served`` the tile's; at
    level 0 the position is also given as the entry's index in the log.
    """
    pos = 0
    while pos * 32 < len(want) and got[pos * 32 : pos * 32 + 32] == want[pos * 32 : pos * 32 + 32]:
        pos += 1
    out: dict[str, Any] = {"tile": f"{level}/{index}", "position": pos}
    if level == 0:
        out["index"] = index * TILE_WIDTH + pos
    out["calculated"] = base64.b64encode(want[pos * 32 : pos * 32 + 32]).decode()
    out["served"] = base64.b64encode(got[pos * 32 : pos * 32 + 32]).decode()
    return out


def compare_tiles(expected: dict[Coords, bytes], actual: Sequence[bytes], where: str) -> None:
    """Raise ``MismatchError`` naming the first tile (and hash in it) whose bytes differ."""
    for (level, index), got in zip(sorted(expected), actual, strict=True):
        want = expected[(level, index)]
        if got[: len(want)] != want or len(got) < len(want):
            evidence = first_difference(want, got, level, index)
            at = f", entry {evidence['index']}" if "index" in evidence else ""
            raise MismatchError(
                f"{where} tile {level}/{index} does not match the hashes of the entries"
                f" (position {evidence['position']}{at})",
                evidence=evidence,
            )
