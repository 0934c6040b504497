"""Growing a tree's stored tiles as leaves arrive, keeping only its right edge.

The node's integrator and the tile rebuilders (start-up check, ``pel verify``) use
:class:`TreeBuilder`: it holds the partial tile of each level (at most 255 hashes
per level, so O(log n) memory), emits every tile it completes or extends, and
computes the root of the current size from the edge alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pel.ledger.errors import IntegrityError, TileError
from pel.ledger.merkle.hashing import EMPTY_ROOT, HASH_SIZE, hash_children
from pel.ledger.merkle.tiles import TILE_HEIGHT, TILE_WIDTH, full_tile_nodes

FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE

Coords = tuple[int, int]
"""``(tile level, tile index)``."""


def tile_root(hashes: bytes) -> bytes:
    """The root of the perfect subtree over ``hashes`` (a power of two of 32-byte hashes)."""
    count = len(hashes) // HASH_SIZE
    if count == 0 or count & (count - 1) or len(hashes) % HASH_SIZE:
        raise TileError(f"{len(hashes)} bytes is not a power of two of hashes")
    level = [hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]
    while len(level) > 1:
        level = [hash_children(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def edge_root(edge: dict[int, bytes]) -> bytes:
    """The tree's root from its partial tiles (``edge[level]``: that level's partial tile).

    Each partial tile at level L holds k complete subtrees of 256^L leaves; split
    k into powers of two (largest first) and the perfect subtrees, highest level
    first, are the tree's right-edge decomposition; folding them from the right
    gives MTH (RFC 9162 §2.1.1).
    """
    perfect: list[bytes] = []
    for level in sorted(edge, reverse=True):
        data = edge[level]
        count = len(data) // HASH_SIZE
        pos = 0
        for bit in range(TILE_HEIGHT, -1, -1):
            if count & (1 << bit):
                end = pos + (1 << bit)
                perfect.append(tile_root(data[pos * HASH_SIZE : end * HASH_SIZE]))
                pos = end
    if not perfect:
        raise TileError("the empty tree has no edge")
    acc = perfect[-1]
    for h in reversed(perfect[:-1]):
        acc = hash_children(h, acc)
    return acc


def edge_of(size: int, read_tile: Callable[[int, int], bytes | None]) -> dict[int, bytes]:
    """The partial tiles of a tree of ``size`` (a :class:`TreeBuilder`'s ``edge``), each
    read with ``read_tile(level, index)`` (None when missing) and cut to its width.

    Raises:
        IntegrityError: a partial tile is missing or too short.
    """
    edge: dict[int, bytes] = {}
    level = 0
    while (count := size >> (TILE_HEIGHT * level)) > 0:
        if count % TILE_WIDTH:
            want = (count % TILE_WIDTH) * HASH_SIZE
            data = read_tile(level, count // TILE_WIDTH)
            if data is None or len(data) < want:
                raise IntegrityError(f"partial tile at level {level} is missing")
            edge[level] = bytes(data)[:want]
        level += 1
    return edge


class TreeBuilder:
    """Appends leaf hashes to a tree of ``size`` whose partial tiles are ``edge``.

    Args:
        size: Number of leaves already in the tree.
        edge: ``{level: partial tile bytes}`` for every level whose tile at ``size``
            is partial (exactly ``(size >> 8·level) % 256`` hashes each).
        keep_nodes: Also keep each completed tile's inner nodes for :meth:`take_nodes`
            (they are computed anyway, for the tile's root).
    """

    def __init__(self, size: int, edge: dict[int, bytes], *, keep_nodes: bool = False) -> None:
        self.size = size
        self._keep_nodes = keep_nodes
        self._nodes: dict[Coords, bytes] = {}
        self._edge: dict[int, bytearray] = {}
        level = 0
        while (count := size >> (TILE_HEIGHT * level)) > 0:
            want = (count % TILE_WIDTH) * HASH_SIZE
            data = edge.get(level, b"")
            if len(data) != want:
                raise TileError(
                    f"partial tile at level {level} has {len(data)} bytes, size {size} needs {want}"
                )
            if want:
                self._edge[level] = bytearray(data)
            level += 1
        stray = sorted(lv for lv, data in edge.items() if data and not 0 <= lv < level)
        if stray:
            raise TileError(f"size {size} has no partial tile at level {stray[0]}")
        self._changed: dict[Coords, bytes] = {}
        self._dirty: set[int] = set()

    def append(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append leaves (their RFC 9162 leaf hashes) in order."""
        for h in leaf_hashes:
            if len(h) != HASH_SIZE:
                raise TileError(f"leaf hash must be {HASH_SIZE} bytes, got {len(h)}")
        if leaf_hashes:
            self._push(0, b"".join(leaf_hashes), self.size)
            self.size += len(leaf_hashes)

    def _push(self, level: int, data: bytes, start_size: int) -> None:
        count = start_size >> (TILE_HEIGHT * level)
        buf = self._edge.setdefault(level, bytearray())
        pos = 0
        completed: list[bytes] = []
        while pos < len(data):
            take = data[pos : pos + FULL_TILE_BYTES - len(buf)]
            buf += take
            pos += len(take)
            count += len(take) // HASH_SIZE
            if len(buf) == FULL_TILE_BYTES:
                full = bytes(buf)
                coords = (level, count // TILE_WIDTH - 1)
                self._changed[coords] = full
                inner, root = full_tile_nodes(full)
                if self._keep_nodes:
                    self._nodes[coords] = inner
                completed.append(root)
                buf.clear()
        self._dirty.add(level)
        if completed:
            self._push(level + 1, b"".join(completed), start_size)

    def take_changed(self) -> dict[Coords, bytes]:
        """Tiles completed or extended since the last call: full ones and current partials."""
        out = self._changed
        for level in self._dirty:
            buf = self._edge.get(level)
            if buf:
                index = (self.size >> (TILE_HEIGHT * level)) // TILE_WIDTH
                out[(level, index)] = bytes(buf)
        self._changed = {}
        self._dirty = set()
        return out

    def take_nodes(self) -> dict[Coords, bytes]:
        """The inner nodes of the tiles completed since the last call (``keep_nodes``)."""
        out, self._nodes = self._nodes, {}
        return out

    def edge(self) -> dict[int, bytes]:
        """``{level: partial tile bytes}`` of the current size."""
        return {level: bytes(buf) for level, buf in self._edge.items() if buf}

    def root(self) -> bytes:
        """MTH of the current size (the empty tree's hash when size is 0)."""
        if self.size == 0:
            return EMPTY_ROOT
        return edge_root(self.edge())
