"""Rebuilding a log's tiles from its entries, to compare with stored or served tiles.

Pure: the caller feeds leaf hashes in index order and compares what comes back
with the tiles it holds (the node's start-up check) or fetched (``pel verify``).
Memory stays O(log n): only the right edge of the tree is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.errors import IntegrityError
from ledger.merkle.builder import TreeBuilder
from ledger.merkle.tiles import TILE_WIDTH

FULL_TILE_BYTES = TILE_WIDTH * 32

Coords = tuple[int, int]


class TileRebuilder:
    """Grows a tree from leaf hashes and hands out each tile once it is final."""

    def __init__(self) -> None:
        self._builder = TreeBuilder(0, {})

    @property
    def size(self) -> int:
        return self._builder.size

    def add(self, leaf_hashes: Sequence[bytes]) -> dict[Coords, bytes]:
        """Append leaf hashes; return the full tiles they completed."""
        self._builder.append(leaf_hashes)
        changed = self._builder.take_changed()
        return {c: d for c, d in changed.items() if len(d) == FULL_TILE_BYTES}

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


def compare_tiles(expected: dict[Coords, bytes], actual: Sequence[bytes], where: str) -> None:
    """Raise ``IntegrityError`` naming the first tile whose bytes differ."""
    for (level, index), got in zip(sorted(expected), actual, strict=True):
        want = expected[(level, index)]
        if got[: len(want)] != want or len(got) < len(want):
            raise IntegrityError(
                f"{where} tile {level}/{index} does not match the hashes of the entries"
            )
