"""C2SP tlog-tiles: tile paths, entry bundles, and reading proof hashes from tiles.

A tile at level L holds up to 256 consecutive hashes of Merkle level 8·L; the
node ``(level, n)`` of :mod:`ledger.merkle.proof` is either one of those hashes
(level a multiple of 8) or the root of 2, 4, … 128 of them, computed here from
the tile. Full tiles never change, so their inner nodes are cached, and a source
may keep them stored (:class:`NodeTileSource`) so that a cold proof hashes nothing.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from pel.ledger.errors import IntegrityError, ProofError, TileError
from pel.ledger.merkle.hashing import HASH_SIZE, hash_pairs
from pel.ledger.merkle.proof import Coord, fold, subtree_coords

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY_BYTES = 0xFFFF
"""The largest log entry: entry bundles prefix each entry with a big-endian uint16 length."""

_FULL = TILE_WIDTH * HASH_SIZE
Buffer = Any
"""Packed nodes: ``bytes``, or a view of a mapped file whose slices are ``bytes``."""
_LEVEL_SHIFT = TILE_HEIGHT.bit_length() - 1
"""Merkle level >> this = tile level (TILE_HEIGHT is a power of two)."""

INNER_NODES_BYTES = (TILE_WIDTH - 2) * HASH_SIZE
"""A full tile's inner nodes below its root (heights 1 to 7: 254 hashes), packed."""

_FULL_OFFSETS = tuple(_FULL * 2 - (_FULL >> h << 1) for h in range(TILE_HEIGHT + 1))
"""Where height h starts in a full tile's packed nodes (leaves, then each height up)."""

_SIBLINGS = tuple(
    itemgetter(
        *(
            slice(start, start + HASH_SIZE)
            for h in range(TILE_HEIGHT)
            for start in [_FULL_OFFSETS[h] + ((pos >> h) ^ 1) * HASH_SIZE]
        )
    )
    for pos in range(TILE_WIDTH)
)
"""``_SIBLINGS[pos](nodes)``: the 8 proof hashes, heights 0 to 7, of the hash at ``pos``
of a full tile whose subtree lies inside the tree: sliced in C, the warm proof's core."""


def encode_tile_index(index: int) -> str:
    """``1234067`` → ``x001/x234/067``: 3-digit elements, all but the last x-prefixed."""
    if index < 0:
        raise TileError(f"tile index {index} is negative")
    parts = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        parts.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(parts))


def _width_suffix(width: int | None) -> str:
    if width is None or width == TILE_WIDTH:
        return ""
    if not 0 < width < TILE_WIDTH:
        raise TileError(f"partial tile width {width} is not between 1 and 255")
    return f".p/{width}"


def tile_path(level: int, index: int, width: int | None = None) -> str:
    """``tile/<L>/<N>[.p/<W>]`` (no leading slash)."""
    if not 0 <= level <= 63:
        raise TileError(f"tile level {level} is not between 0 and 63")
    return f"tile/{level}/{encode_tile_index(index)}{_width_suffix(width)}"


def entries_path(index: int, width: int | None = None) -> str:
    """``tile/entries/<N>[.p/<W>]`` (no leading slash)."""
    return f"tile/entries/{encode_tile_index(index)}{_width_suffix(width)}"


class TilePath(NamedTuple):
    """A parsed tile path: ``kind`` is ``"tile"`` or ``"entries"`` (level None)."""

    kind: str
    level: int | None
    index: int
    width: int | None


_PATH = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> TilePath:
    """Parse a tile or entry-bundle path strictly (canonical index, level ≤ 63, 1 ≤ W ≤ 255).

    Raises:
        TileError: the path is not a canonical tlog-tiles path.
    """
    m = _PATH.fullmatch(path)
    if m is None:
        raise TileError(f"{path!r} is not a tlog-tiles path")
    index = int(m["index"].replace("x", "").replace("/", ""))
    width = int(m["width"]) if m["width"] else None
    level = None if m["level"] == "entries" else int(m["level"])
    if level is not None and level > 63:
        raise TileError(f"tile level {level} is not between 0 and 63")
    if width is not None and width >= TILE_WIDTH:
        raise TileError(f"partial tile width {width} is not between 1 and 255")
    if encode_tile_index(index) != m["index"]:
        raise TileError(f"tile index {m['index']!r} is not canonically encoded")
    return TilePath("entries" if level is None else "tile", level, index, width)


def tile_coords_for_size(size: int) -> list[tuple[int, int, int | None]]:
    """Every ``(level, index, width)`` tile of a tree of ``size`` (width None: full)."""
    out: list[tuple[int, int, int | None]] = []
    level = 0
    while (count := size >> (TILE_HEIGHT * level)) > 0:
        out.extend((level, n, None) for n in range(count // TILE_WIDTH))
        if count % TILE_WIDTH:
            out.append((level, count // TILE_WIDTH, count % TILE_WIDTH))
        level += 1
    return out


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries, each prefixed with its big-endian uint16 length."""
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY_BYTES:
            raise TileError(f"entry of {len(e)} bytes does not fit an entry bundle")
        out += len(e).to_bytes(2, "big")
        out += e
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """Split an entry bundle; raise ``TileError`` if it is truncated."""
    out: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise TileError("entry bundle is truncated in a length prefix")
        n = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + n > end:
            raise TileError("entry bundle is truncated inside an entry")
        out.append(bytes(data[pos : pos + n]))
        pos += n
    return out


class TileSource(Protocol):
    """Where tiles come from: the node's database, or tiles fetched over HTTP."""

    def read_tiles(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        """The stored bytes of each ``(tile level, tile index)``, in order."""
        ...


class NodeTileSource(TileSource, Protocol):
    """A source that also keeps full tiles' inner nodes (the node's own log)."""

    def read_tiles_and_nodes(
        self, coords: Sequence[tuple[int, int]]
    ) -> list[tuple[bytes, bytes | None]]:
        """Each tile's bytes and, for a full tile, its stored inner nodes (None if not kept)."""
        ...


class MappedTileSource(NodeTileSource, Protocol):
    """A source that can also hand out some full tiles' nodes without reading them."""

    def map_full_tile(self, key: tuple[int, int]) -> Buffer | None:
        """Full tile ``key``'s packed nodes (the tile, then heights 1 to 7), as an object
        whose slices are ``bytes`` (a view of a mapped file), or None if it has none."""
        ...


def full_tile_nodes(tile: bytes) -> tuple[bytes, bytes]:
    """``(inner, root)`` of a full tile: its heights 1 to 7 packed (what ``tile_nodes``
    stores), and the root, which is the next level's hash."""
    if len(tile) != _FULL:
        raise TileError(f"a full tile has {_FULL} bytes, not {len(tile)}")
    rows = []
    row = tile
    while len(row) > HASH_SIZE:
        row = hash_pairs(row)
        rows.append(row)
    return b"".join(rows[:-1]), rows[-1]


class _TileNodes:
    """Every complete node of one tile, packed in one bytes object (about 16 KiB for a
    full tile, a third of what lists of hashes take): ``node(h, i)`` is the root of the
    2^h hashes from ``i·2^h``; a partial tile's trailing odd nodes are left out."""

    __slots__ = ("count", "data", "offsets")
    data: Buffer

    def __init__(self, tile: bytes) -> None:
        row = bytes(tile[: len(tile) - len(tile) % HASH_SIZE])
        self.count = len(row) // HASH_SIZE
        parts = [row]
        offsets = [0]
        size = len(row)
        while len(row) > HASH_SIZE:
            row = hash_pairs(row)
            offsets.append(size)
            parts.append(row)
            size += len(row)
        self.offsets = tuple(offsets)
        self.data = b"".join(parts)

    @classmethod
    def stored(cls, tile: bytes, inner: bytes) -> _TileNodes:
        """A full tile's nodes from the tile and its stored inner nodes: no hashing."""
        nodes = cls.__new__(cls)
        nodes.count = TILE_WIDTH
        nodes.offsets = _FULL_OFFSETS
        nodes.data = bytes(tile) + bytes(inner)
        return nodes

    @classmethod
    def mapped(cls, data: Buffer) -> _TileNodes:
        """A full tile's nodes as a source maps them: nothing is copied or hashed."""
        if len(data) != _FULL + INNER_NODES_BYTES:
            raise IntegrityError(f"mapped nodes of a full tile have {len(data)} bytes")
        nodes = cls.__new__(cls)
        nodes.count = TILE_WIDTH
        nodes.offsets = _FULL_OFFSETS
        nodes.data = data
        return nodes

    def node(self, height: int, index: int) -> bytes:
        start = self.offsets[height] + index * HASH_SIZE
        return self.data[start : start + HASH_SIZE]


class TileHashReader:
    """A :class:`~ledger.merkle.proof.HashReader` over tiles: one source read per call.

    Full tiles' nodes are kept in an LRU of ``cache_tiles`` tiles (≈ 16 KiB each);
    the latest partial tiles are kept too, and read again only when a proof needs
    hashes beyond the cached length. A :class:`NodeTileSource`'s stored inner nodes
    are used as they are read: the tile is not rehashed; a :class:`MappedTileSource`'s
    mapped tiles are not even read, and kept as views.
    """

    def __init__(self, source: TileSource, cache_tiles: int = 8192) -> None:
        self._source = source
        self._read_nodes = getattr(source, "read_tiles_and_nodes", None)
        self._map_tile = getattr(source, "map_full_tile", None)
        self._cache: OrderedDict[tuple[int, int], _TileNodes] = OrderedDict()
        self._cache_tiles = cache_tiles
        self._partial: dict[tuple[int, int], _TileNodes] = {}
        self._edges: dict[tuple[int, int], bytes] = {}
        self._uppers: dict[tuple[int, int], tuple[bytes, ...]] = {}
        self._lock = threading.Lock()

    def read_hashes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        where, need = self._plan(coords)
        return self._pick(self._tiles(need), where, need)

    @staticmethod
    def _plan(
        coords: Sequence[tuple[int, int]], need: dict[tuple[int, int], int] | None = None
    ) -> tuple[list[tuple[int, int, int, int]], dict[tuple[int, int], int]]:
        """Where each node of ``coords`` is (tile level, tile index, position, height) and
        how many hashes each of those tiles must hold (added to ``need``)."""
        where = []
        need = {} if need is None else need
        for level, n in coords:
            tile_level, height = divmod(level, TILE_HEIGHT)
            first = n << height
            t, i, pos = tile_level, first // TILE_WIDTH, first % TILE_WIDTH
            where.append((t, i, pos, height))
            # A cached partial tile that holds enough is still right: a tile only ever
            # grows by appending hashes.
            need[(t, i)] = max(need.get((t, i), 0), pos + (1 << height))
        return where, need

    @staticmethod
    def _pick(
        found: dict[tuple[int, int], _TileNodes],
        where: list[tuple[int, int, int, int]],
        need: dict[tuple[int, int], int],
    ) -> list[bytes]:
        out: list[bytes] = []
        for tile_level, index, pos, height in where:
            nodes = found[(tile_level, index)]
            if nodes.count < need[(tile_level, index)]:
                raise IntegrityError(
                    f"tile {tile_level}/{index} is too short for the hash asked of it"
                )
            out.append(nodes.node(height, pos >> height))
        return out

    def _tiles(self, need: dict[tuple[int, int], int]) -> dict[tuple[int, int], _TileNodes]:
        """The nodes of each tile in ``need`` (holding at least that many hashes): from the
        cache, else from one read of the source."""
        found: dict[tuple[int, int], _TileNodes] = {}
        with self._lock:
            for key, count in need.items():
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    found[key] = hit
                elif (part := self._partial.get(key)) is not None and part.count >= count:
                    found[key] = part
        missing = sorted(need.keys() - found.keys())
        if missing and self._map_tile is not None:
            unmapped = []
            for key in missing:
                data = self._map_tile(key)
                if data is None:
                    unmapped.append(key)
                else:
                    found[key] = _TileNodes.mapped(data)
                    self._remember(key, found[key])
            missing = unmapped
        if not missing:
            return found
        if self._read_nodes is not None:
            read = self._read_nodes(missing)
        else:
            read = [(data, None) for data in self._source.read_tiles(missing)]
        for key, (data, inner) in zip(missing, read, strict=True):
            if len(data) % HASH_SIZE or len(data) > _FULL:
                raise IntegrityError(f"tile {key[0]}/{key[1]} has {len(data)} bytes")
            if len(data) == _FULL and inner is not None:
                if len(inner) != INNER_NODES_BYTES:
                    raise IntegrityError(f"inner nodes of tile {key[0]}/{key[1]} are cut short")
                found[key] = _TileNodes.stored(data, inner)
            else:
                found[key] = _TileNodes(data)
            if len(data) == _FULL:
                self._remember(key, found[key])
            else:
                with self._lock:
                    if len(self._partial) >= 256:
                        self._partial.clear()
                    self._partial[key] = found[key]
        return found

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The same proof as :func:`ledger.merkle.proof.inclusion_proof` over this reader,
        by a direct path: the sibling of the leaf's ancestor at each height, clipped to
        ``size``, is the proof hash of that height. At most one source read.

        While the ancestor's whole tile lies inside the tree, its eight proof hashes are
        slices of that full tile's nodes (one look-up per tile level). The rest, at the
        right edge, is the same for every leaf under the same ancestor at that height and
        the same size, so it is kept: each height looked up on its own, and the one
        sibling the edge cuts folded from its perfect subtrees.
        """
        if not 0 <= index < size:
            raise ProofError(f"index {index} is not in a tree of size {size}")
        inside: list[tuple[tuple[int, int], int]] = []  # (full tile, position) per tile level
        shift = 0
        while (index >> shift | TILE_WIDTH - 1) + 1 << shift <= size:
            inside.append(((shift >> _LEVEL_SHIFT, index >> shift + TILE_HEIGHT), index >> shift))
            shift += TILE_HEIGHT
        upper_key = (index >> shift, size)
        upper = self._uppers.get(upper_key)
        out: list[bytes] = []
        cache = self._cache
        cold = False
        for key, pos in inside:
            nodes = cache.get(key)
            if nodes is None:
                cold = True
                break
            # Not contextlib.suppress: a context manager per tile level costs more than the slicing.
            try:  # noqa: SIM105
                cache.move_to_end(key)
            except KeyError:  # evicted meanwhile by another thread
                pass
            out.extend(_SIBLINGS[pos & TILE_WIDTH - 1](nodes.data))
        if upper is not None:
            if cold:  # only full tiles are missing
                out = self._inside_cold(inside)
            out.extend(upper)
            return out
        coords: list[Coord] = []
        edge = -1  # position in ``coords`` of the one sibling cut by the tree's right edge
        edge_lo = 0
        height = shift
        while (1 << height) < size:
            lo = ((index >> height) ^ 1) << height
            if lo < size:
                if lo + (1 << height) <= size:
                    coords.append((height, lo >> height))
                else:
                    edge, edge_lo = len(coords), lo
            height += 1
        edge_hash = self._edges.get((edge_lo, size)) if edge >= 0 else None
        pieces = subtree_coords(edge_lo, size) if edge >= 0 and edge_hash is None else []
        rest = self._cached_hashes(coords + pieces)
        if rest is not None:
            if cold:  # only full tiles are missing
                out = self._inside_cold(inside)
        elif cold:  # every tile this proof needs, in one read
            where, need = self._plan(coords + pieces, {key: TILE_WIDTH for key, _ in inside})
            found = self._tiles(need)
            out = self._inside_hashes(inside, found)
            rest = self._pick(found, where, need)
        else:
            rest = self.read_hashes(coords + pieces)
        if pieces:
            edge_hash = fold(rest[len(coords) :])
            del rest[len(coords) :]
            if len(self._edges) >= 4096:
                self._edges.clear()
            self._edges[(edge_lo, size)] = edge_hash
        if edge_hash is not None:
            rest.insert(edge, edge_hash)
        if len(self._uppers) >= 16384:
            self._uppers.clear()
        self._uppers[upper_key] = tuple(rest)
        out.extend(rest)
        return out

    def _inside_cold(self, inside: list[tuple[tuple[int, int], int]]) -> list[bytes]:
        """The proof hashes of the full tiles in ``inside`` when some are not cached: the
        one missing tile read on its own (a cold proof's usual case), several in one read."""
        found: dict[tuple[int, int], _TileNodes] = {}
        missing = []
        for key, _ in inside:
            nodes = self._cache.get(key)
            if nodes is None:
                missing.append(key)
            else:
                found[key] = nodes
        if len(missing) == 1:
            found[missing[0]] = self._full_tile(missing[0])
        else:
            found.update(self._tiles(dict.fromkeys(missing, TILE_WIDTH)))
        return self._inside_hashes(inside, found)

    @staticmethod
    def _inside_hashes(
        inside: list[tuple[tuple[int, int], int]], found: dict[tuple[int, int], _TileNodes]
    ) -> list[bytes]:
        """The proof hashes, eight per tile level, of the full tiles in ``inside``."""
        out: list[bytes] = []
        for key, pos in inside:
            nodes = found[key]
            if nodes.count != TILE_WIDTH:
                raise IntegrityError(f"tile {key[0]}/{key[1]} should be full and is not")
            out.extend(_SIBLINGS[pos & TILE_WIDTH - 1](nodes.data))
        return out

    def _full_tile(self, key: tuple[int, int]) -> _TileNodes:
        """The nodes of the full tile ``key``, read from the source on their own and kept:
        a cold proof's one read, without the planning of :meth:`_tiles`."""
        if self._map_tile is not None and (mapped := self._map_tile(key)) is not None:
            nodes = _TileNodes.mapped(mapped)
            self._remember(key, nodes)
            return nodes
        if self._read_nodes is not None:
            ((data, inner),) = self._read_nodes([key])
        else:
            (data,) = self._source.read_tiles([key])
            inner = None
        if len(data) != _FULL:
            raise IntegrityError(f"tile {key[0]}/{key[1]} should be full and has {len(data)} bytes")
        if inner is None:
            nodes = _TileNodes(data)
        elif len(inner) != INNER_NODES_BYTES:
            raise IntegrityError(f"inner nodes of tile {key[0]}/{key[1]} are cut short")
        else:
            nodes = _TileNodes.stored(data, inner)
        self._remember(key, nodes)
        return nodes

    def _cached_hashes(self, coords: Sequence[Coord]) -> list[bytes] | None:
        """The hashes at ``coords`` if every tile they need is cached (and long enough), else
        None: the fast path of a warm reader, one dictionary look-up per hash."""
        out: list[bytes] = []
        cache, partial = self._cache, self._partial
        with self._lock:
            for level, n in coords:
                height = level & (TILE_HEIGHT - 1)
                first = n << height
                key = (level >> _LEVEL_SHIFT, first >> TILE_HEIGHT)
                nodes = cache.get(key)
                if nodes is not None:
                    cache.move_to_end(key)
                else:
                    nodes = partial.get(key)
                    pos = first & (TILE_WIDTH - 1)
                    if nodes is None or nodes.count < pos + (1 << height):
                        return None
                start = nodes.offsets[height] + ((first & (TILE_WIDTH - 1)) >> height) * HASH_SIZE
                out.append(nodes.data[start : start + HASH_SIZE])
        return out

    def clear(self) -> None:
        """Forget every tile and hash kept (a source's mapped tiles may no longer hold)."""
        with self._lock:
            self._cache.clear()
            self._partial.clear()
            self._edges.clear()
            self._uppers.clear()

    def _remember(self, key: tuple[int, int], nodes: _TileNodes) -> None:
        with self._lock:
            self._cache[key] = nodes
            while len(self._cache) > self._cache_tiles:
                self._cache.popitem(last=False)
