"""C2SP tlog-tiles: paths, entry bundles, tiles grown by TreeBuilder, and proofs read
from tiles by TileHashReader, checked against the in-memory DictHashReader."""

from __future__ import annotations

import ctypes
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pel.ledger.errors import IntegrityError, ProofError, TileError
from pel.ledger.merkle.builder import TreeBuilder, edge_root, tile_root
from pel.ledger.merkle.hashing import EMPTY_ROOT, HASH_SIZE, hash_children, hash_leaf, hash_pairs
from pel.ledger.merkle.memory import DictHashReader
from pel.ledger.merkle.proof import consistency_proof, inclusion_proof, tree_hash
from pel.ledger.merkle.tiles import (
    INNER_NODES_BYTES,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileHashReader,
    TilePath,
    decode_entry_bundle,
    encode_entry_bundle,
    encode_tile_index,
    entries_path,
    full_tile_nodes,
    parse_tile_path,
    tile_coords_for_size,
    tile_path,
)
from tests.treehash import mth

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

L2 = TILE_WIDTH * TILE_WIDTH  # 65536: the first leaf hash that reaches tile level 2
CHECKPOINTS = [
    1, 2, 3, 7, 255, 256, 257, 300, 511, 512, 513, 4097,
    L2 - 1, L2, L2 + 1, L2 + 255, L2 + 256, L2 + 257, L2 + 700,
]  # fmt: skip
"""Tree sizes on both sides of the 256 and 65536 boundaries."""
MAX = CHECKPOINTS[-1]
FULL = TILE_WIDTH * HASH_SIZE


def entry(i: int) -> bytes:
    return i.to_bytes(8, "big")


LEAVES = [hash_leaf(entry(i)) for i in range(MAX)]
"""Fast synthetic leaf hashes: of the entries 0, 1, 2, … as 8 bytes."""


@dataclass
class CountingSource:
    """A TileSource over a dict that records every read_tiles call."""

    tiles: dict[tuple[int, int], bytes]
    calls: list[list[tuple[int, int]]] = field(default_factory=list)

    def read_tiles(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        self.calls.append(list(coords))
        return [self.tiles[c] for c in coords]


def naive_inner_nodes(tile: bytes) -> bytes:
    """Heights 1 to 7 of a full tile, one ``hash_children`` at a time (the reference)."""
    row = [tile[i : i + HASH_SIZE] for i in range(0, len(tile), HASH_SIZE)]
    out = b""
    while len(row) > 2:
        row = [hash_children(row[i], row[i + 1]) for i in range(0, len(row), 2)]
        out += b"".join(row)
    return out


@dataclass
class NodeCountingSource(CountingSource):
    """A source that also hands out stored inner nodes (``nodes``; a full tile missing
    from it has none, as in a log written before they were stored)."""

    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def read_tiles_and_nodes(
        self, coords: Sequence[tuple[int, int]]
    ) -> list[tuple[bytes, bytes | None]]:
        return [
            (t, self.nodes.get(c)) for c, t in zip(coords, self.read_tiles(coords), strict=True)
        ]


@dataclass
class MappingSource(NodeCountingSource):
    """A source that maps some full level-0 tiles (``mapped``) as the tile-node file
    does: a ``ctypes`` view whose slices are ``bytes``; the rest it reads."""

    mapped: dict[tuple[int, int], bytes] = field(default_factory=dict)
    maps: int = 0

    def map_full_tile(self, key: tuple[int, int]) -> object | None:
        packed = self.mapped.get(key)
        if packed is None:
            return None
        self.maps += 1
        return (ctypes.c_char * len(packed)).from_buffer(bytearray(packed))


@dataclass
class Grown:
    snapshots: dict[int, dict[tuple[int, int], bytes]]
    roots: dict[int, bytes]
    edges: dict[int, dict[int, bytes]]


@pytest.fixture(scope="module")
def grown() -> Grown:
    """One TreeBuilder grown to MAX in irregular chunks, tiles snapshotted at CHECKPOINTS."""
    builder = TreeBuilder(0, {})
    store: dict[tuple[int, int], bytes] = {}
    out = Grown({}, {}, {})
    chunks = [1, 3, 250, 997, 4096, 5, 10_000]
    i = 0
    for size in CHECKPOINTS:
        while builder.size < size:
            step = min(chunks[i % len(chunks)], size - builder.size)
            builder.append(LEAVES[builder.size : builder.size + step])
            store.update(builder.take_changed())
            i += 1
        out.snapshots[size] = dict(store)
        out.roots[size] = builder.root()
        out.edges[size] = builder.edge()
    return out


@pytest.fixture(scope="module")
def tree() -> DictHashReader:
    t = DictHashReader()
    t.extend(LEAVES)
    return t


# ---- paths -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "encoded"),
    [
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),  # the example of C2SP tlog-tiles
        (1_000_000, "x001/x000/000"),
        (2**40, "x001/x099/x511/x627/776"),
    ],
)
def test_tile_index_encoding(index: int, encoded: str) -> None:
    assert encode_tile_index(index) == encoded
    assert tile_path(0, index) == f"tile/0/{encoded}"
    assert parse_tile_path(f"tile/0/{encoded}") == TilePath("tile", 0, index, None)


def test_tile_paths() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 0, 5) == "tile/1/000.p/5"
    assert tile_path(63, 1000, 255) == "tile/63/x001/000.p/255"
    assert tile_path(2, 3, TILE_WIDTH) == tile_path(2, 3) == "tile/2/003"
    assert entries_path(1234067) == "tile/entries/x001/x234/067"
    assert entries_path(0, 1) == "tile/entries/000.p/1"
    for bad in ((-1, 0, None), (64, 0, None), (0, -1, None), (0, 0, 0), (0, 0, 257)):
        with pytest.raises(TileError):
            tile_path(*bad)
    with pytest.raises(TileError):
        entries_path(0, 0)
    with pytest.raises(TileError):
        encode_tile_index(-1)


def test_parse_examples() -> None:
    assert parse_tile_path("tile/0/x001/x234/067") == TilePath("tile", 0, 1234067, None)
    assert parse_tile_path("tile/5/x001/000.p/17") == TilePath("tile", 5, 1000, 17)
    assert parse_tile_path("tile/63/000") == TilePath("tile", 63, 0, None)
    assert parse_tile_path("tile/entries/000.p/1") == TilePath("entries", None, 0, 1)
    assert parse_tile_path("tile/entries/x002/256.p/255") == TilePath("entries", None, 2256, 255)


@SETTINGS
@given(
    level=st.integers(0, 63),
    index=st.integers(0, 2**64),
    width=st.none() | st.integers(1, TILE_WIDTH - 1),
)
def test_parse_round_trip(level: int, index: int, width: int | None) -> None:
    path = tile_path(level, index, width)
    assert parse_tile_path(path) == TilePath("tile", level, index, width)
    path = entries_path(index, width)
    assert parse_tile_path(path) == TilePath("entries", None, index, width)


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/x000/001",  # non-canonical: a leading x000 element
        "tile/0/x000/000",
        "tile/entries/x000/x001/000",
        "tile/64/000",  # level above 63
        "tile/99/000",
        "tile/100/000",
        "tile/00/000",  # leading zero in the level
        "tile/01/000",
        "tile/0/000.p/0",  # width 0
        "tile/0/000.p/256",  # width 256 (a full tile has no .p/)
        "tile/0/000.p/999",
        "tile/0/000.p/05",  # leading zero in the width
        "tile/0/000.p/",
        "tile/0/0",  # index elements are exactly 3 digits
        "tile/0/0000",
        "tile/0/x1/000",
        "tile/0/x001",  # the last element has no x
        "tile/0/001/000",  # only the last element lacks the x
        "tile/0/000/",  # trailing slash
        "/tile/0/000",  # leading slash
        "tile/0/000\n",
        "tile/0/000.p/5/",
        "tile/-1/000",
        "tile/entry/000",
        "tile/entries/000.p/256",
        "tiles/0/000",
        "tile/0/",
        "tile//000",
        "tile/0/abc",
        "tile/0/\u0661\u0662\u0663",  # non-ASCII digits
        "",
        "garbage",
    ],
)
def test_parse_refuses(path: str) -> None:
    with pytest.raises(TileError):
        parse_tile_path(path)


@pytest.mark.parametrize(
    ("size", "coords"),
    [
        (0, []),
        (1, [(0, 0, 1)]),
        (255, [(0, 0, 255)]),
        (256, [(0, 0, None), (1, 0, 1)]),
        (257, [(0, 0, None), (0, 1, 1), (1, 0, 1)]),
        (512, [(0, 0, None), (0, 1, None), (1, 0, 2)]),
    ],
)
def test_tile_coords_for_size(size: int, coords: list[tuple[int, int, int | None]]) -> None:
    assert tile_coords_for_size(size) == coords


def test_tile_coords_for_larger_sizes() -> None:
    got = tile_coords_for_size(L2)
    assert got == [(0, n, None) for n in range(256)] + [(1, 0, None), (2, 0, 1)]
    # 70,000 leaves: 273 full level-0 tiles and 112 hashes; 1 full level-1 tile and 17.
    got = tile_coords_for_size(70_000)
    assert got[-4:] == [(0, 273, 112), (1, 0, None), (1, 1, 17), (2, 0, 1)]
    assert got[:273] == [(0, n, None) for n in range(273)]
    assert len(got) == 277


# ---- entry bundles ---------------------------------------------------------------------


def test_entry_bundle_layout() -> None:
    assert encode_entry_bundle([]) == b""
    assert encode_entry_bundle([b"ab", b"", b"c"]) == b"\x00\x02ab\x00\x00\x00\x01c"
    assert decode_entry_bundle(b"\x00\x02ab\x00\x00\x00\x01c") == [b"ab", b"", b"c"]
    assert decode_entry_bundle(b"") == []
    big = b"\xff" * 0xFFFF
    assert encode_entry_bundle([big])[:2] == b"\xff\xff"
    assert decode_entry_bundle(encode_entry_bundle([big, b"x"])) == [big, b"x"]


@SETTINGS
@given(st.lists(st.binary(max_size=300), max_size=TILE_WIDTH))
def test_entry_bundle_round_trip(entries: list[bytes]) -> None:
    data = encode_entry_bundle(entries)
    assert len(data) == sum(2 + len(e) for e in entries)
    assert decode_entry_bundle(data) == entries
    # Every proper prefix that cuts an entry or a length prefix is refused.
    cuts = {len(data) - 1, 1} if data else set()
    for cut in cuts:
        if cut > 0 and cut not in _boundaries(entries):
            with pytest.raises(TileError, match="truncated"):
                decode_entry_bundle(data[:cut])


def _boundaries(entries: list[bytes]) -> set[int]:
    out, pos = {0}, 0
    for e in entries:
        pos += 2 + len(e)
        out.add(pos)
    return out


@pytest.mark.parametrize(
    "data",
    [b"\x00", b"\x00\x05abcd", b"\x00\x01a\x00", b"\x00\x01a\x00\x02b", b"\xff\xff" + b"a" * 100],
)
def test_truncated_entry_bundles_are_refused(data: bytes) -> None:
    with pytest.raises(TileError):
        decode_entry_bundle(data)


def test_entries_over_65535_bytes_are_refused() -> None:
    with pytest.raises(TileError):
        encode_entry_bundle([b"a", b"\x00" * 0x10000])
    with pytest.raises(TileError):
        encode_entry_bundle([b"\x00" * 100_000])


# ---- tiles grown by TreeBuilder -----------------------------------------------------------


@pytest.mark.parametrize("size", CHECKPOINTS)
def test_builder_emits_exactly_the_tiles_of_the_tree(
    size: int, grown: Grown, tree: DictHashReader
) -> None:
    tiles = grown.snapshots[size]
    coords = tile_coords_for_size(size)
    assert set(tiles) == {(lv, n) for lv, n, _ in coords}
    final = grown.snapshots[MAX]
    for lv, n, width in coords:
        data = tiles[(lv, n)]
        assert len(data) == (width or TILE_WIDTH) * HASH_SIZE, (lv, n)
        if width is None:
            assert final[(lv, n)] == data  # full tiles never change
        if width is not None or size == MAX or lv > 0:
            # Hash j of tile (L, n) is the Merkle node at level 8L, index 256n + j.
            nodes = [(TILE_HEIGHT * lv, n * TILE_WIDTH + j) for j in range(width or TILE_WIDTH)]
            assert data == b"".join(tree.read_hashes(nodes)), (lv, n)
    want = tree.root(size)
    assert grown.roots[size] == want
    assert edge_root(grown.edges[size]) == want
    assert {lv: len(d) // HASH_SIZE for lv, d in grown.edges[size].items()} == {
        lv: w for lv, _, w in coords if w is not None
    }


def test_roots_against_the_naive_reference(grown: Grown) -> None:
    entries = [entry(i) for i in range(MAX)]
    for size in (1, 257, L2, MAX):
        assert grown.roots[size] == mth(entries[:size])


def _indices(size: int) -> list[int]:
    rng = random.Random(size)
    picks = {0, 1, 255, 256, 257, 511, 512, L2 - 1, L2, L2 + 1, size // 2, size - 2, size - 1}
    picks |= {rng.randrange(size) for _ in range(4)}
    return sorted(i for i in picks if 0 <= i < size)


def _firsts(size: int) -> list[int]:
    rng = random.Random(-size)
    picks = {1, 2, 255, 256, 257, 512, L2 - 1, L2, L2 + 1, size // 3, size - 1, size}
    picks |= {rng.randrange(1, size + 1) for _ in range(4)}
    return sorted(i for i in picks if 0 < i <= size)


def _partial(source: CountingSource, coords: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [c for c in coords if len(source.tiles[c]) < FULL]


@pytest.mark.parametrize("size", CHECKPOINTS)
def test_tile_reader_gives_the_same_proofs(size: int, grown: Grown, tree: DictHashReader) -> None:
    source = CountingSource(grown.snapshots[size])
    shared = TileHashReader(source)
    assert tree_hash(size, shared) == tree.root(size) == grown.roots[size]
    requests = [
        ("inclusion", i, lambda r, i=i: inclusion_proof(i, size, r)) for i in _indices(size)
    ]
    requests += [
        ("consistency", f, lambda r, f=f: consistency_proof(f, size, r)) for f in _firsts(size)
    ]
    for kind, arg, generate in requests:
        want = generate(tree)
        # A fresh reader: the proof's hashes come from one read_tiles call.
        fresh = TileHashReader(source)
        before = len(source.calls)
        assert generate(fresh) == want, (kind, arg)
        assert len(source.calls) - before == (1 if want else 0), (kind, arg)
        if not want:
            continue
        first_read = source.calls[-1]
        assert len(set(first_read)) == len(first_read)
        # Again on the same reader: full tiles come from its cache; at most the partial
        # ones are read again, in at most one call.
        before = len(source.calls)
        assert generate(fresh) == want
        again = source.calls[before:]
        assert len(again) <= 1, (kind, arg)
        for coords in again:
            assert set(coords) <= set(_partial(source, first_read)), (kind, arg)
        # And a reader shared by all requests agrees too.
        assert generate(shared) == want


def test_full_tiles_are_served_from_the_cache() -> None:
    builder = TreeBuilder(0, {})
    builder.append(LEAVES[:600])
    source = CountingSource(builder.take_changed())
    assert sorted(source.tiles) == [(0, 0), (0, 1), (0, 2), (1, 0)]
    tree = DictHashReader()
    tree.extend(LEAVES[:600])
    reader = TileHashReader(source)
    coords = [(0, 0), (0, 300), (3, 1), (8, 0), (7, 1), (0, 599), (2, 148), (9, 0)]
    want = tree.read_hashes(coords)
    assert reader.read_hashes(coords) == want
    assert source.calls == [[(0, 0), (0, 1), (0, 2), (1, 0)]]
    assert reader.read_hashes(coords) == want
    # The full tiles are not read again (the partial ones may be, in one call).
    assert source.calls[1:] in ([], [[(0, 2), (1, 0)]])
    calls = len(source.calls)
    assert reader.read_hashes([(0, 5), (7, 3), (4, 15)]) == tree.read_hashes(
        [(0, 5), (7, 3), (4, 15)]
    )
    assert reader.read_hashes([]) == []
    assert len(source.calls) == calls  # only full tiles: all from the cache


def test_a_long_lived_reader_follows_a_growing_tree() -> None:
    """Tiles only grow: whatever a reader keeps, it must serve each new size right."""
    builder = TreeBuilder(0, {})
    source = CountingSource({})
    reader = TileHashReader(source)
    tree = DictHashReader()
    rng = random.Random(7)
    while builder.size < 1400:
        step = rng.choice([1, 1, 2, 3, 17, 60, 255, 256])
        leaves = LEAVES[builder.size : builder.size + step]
        builder.append(leaves)
        tree.extend(leaves)
        source.tiles.update(builder.take_changed())
        size = builder.size
        assert tree_hash(size, reader) == tree.root() == builder.root(), size
        for index in {0, size // 2, size - 1, rng.randrange(size)}:
            assert inclusion_proof(index, size, reader) == tree.inclusion_proof(index), size
            assert reader.inclusion_proof(index, size) == tree.inclusion_proof(index), size
        for first in {1, size // 2 or 1, size - 1 or 1, rng.randrange(1, size + 1)}:
            assert consistency_proof(first, size, reader) == tree.consistency_proof(first)


def test_the_tile_cache_is_bounded() -> None:
    builder = TreeBuilder(0, {})
    builder.append(LEAVES[:768])
    source = CountingSource(builder.take_changed())
    reader = TileHashReader(source, cache_tiles=1)
    reader.read_hashes([(0, 0)])
    reader.read_hashes([(0, 256)])  # evicts tile (0, 0)
    reader.read_hashes([(0, 257)])
    assert source.calls == [[(0, 0)], [(0, 1)]]
    reader.read_hashes([(0, 1)])
    assert source.calls[-1] == [(0, 0)]


def test_short_tiles_are_an_integrity_failure() -> None:
    hashes = b"".join(LEAVES[:10])
    reader = TileHashReader(CountingSource({(0, 0): hashes}))
    assert reader.read_hashes([(0, 9)]) == [LEAVES[9]]
    assert reader.read_hashes([(3, 0)]) == [tile_root(hashes[: 8 * HASH_SIZE])]
    with pytest.raises(IntegrityError):
        reader.read_hashes([(0, 10)])
    with pytest.raises(IntegrityError):
        reader.read_hashes([(2, 2)])  # leaves 8..11
    with pytest.raises(IntegrityError):
        TileHashReader(CountingSource({(0, 0): hashes + b"\x00"})).read_hashes([(0, 1)])


# ---- the direct inclusion-proof path ------------------------------------------------------


@pytest.fixture(scope="module")
def all_tiles() -> dict[tuple[int, int], bytes]:
    """Every tile of the tree of MAX leaves: a smaller tree's tiles are these, with the
    partial ones cut short (a tile only ever grows by appending hashes)."""
    builder = TreeBuilder(0, {})
    builder.append(LEAVES)
    return builder.take_changed()


def _tiles_at(all_tiles: dict[tuple[int, int], bytes], size: int) -> dict[tuple[int, int], bytes]:
    out = {}
    for level, index, width in tile_coords_for_size(size):
        data = all_tiles[(level, index)]
        out[(level, index)] = data if width is None else data[: width * HASH_SIZE]
    return out


@SETTINGS
@given(data=st.data())
def test_the_direct_path_gives_the_generic_proofs(
    data: st.DataObject, all_tiles: dict[tuple[int, int], bytes], tree: DictHashReader
) -> None:
    size = data.draw(st.one_of(st.sampled_from(CHECKPOINTS), st.integers(1, MAX)), "size")
    source = CountingSource(_tiles_at(all_tiles, size))
    reader = TileHashReader(source)
    for index in _draw_indexes(data, size):
        want = inclusion_proof(index, size, tree)
        assert inclusion_proof(index, size, TileHashReader(source)) == want
        cold = TileHashReader(source)
        before = len(source.calls)
        assert cold.inclusion_proof(index, size) == want
        assert len(source.calls) - before == (1 if want else 0)
        # Warm: only partial tiles are ever read again, and the answer is the same.
        before = len(source.calls)
        assert cold.inclusion_proof(index, size) == want
        again = [c for coords in source.calls[before:] for c in coords]
        assert [c for c in again if len(source.tiles[c]) == FULL] == []
        # And a reader shared by all the proofs of this size agrees too.
        assert reader.inclusion_proof(index, size) == want


def test_the_direct_path_is_served_from_cached_tiles_alone() -> None:
    builder = TreeBuilder(0, {})
    builder.append(LEAVES[:L2])
    source = CountingSource(builder.take_changed())
    reader = TileHashReader(source)
    size = L2  # every tile a proof needs is full: nothing is read twice
    indexes = (0, 1, 255, 256, 4097, L2 // 2 + 7, size - 1)
    for index in indexes:
        reader.inclusion_proof(index, size)
    calls = len(source.calls)
    tree = DictHashReader()
    tree.extend(LEAVES[:size])
    for index in indexes:
        assert reader.inclusion_proof(index, size) == tree.inclusion_proof(index)
    assert len(source.calls) == calls


def test_the_direct_path_refuses_what_the_generic_one_refuses() -> None:
    builder = TreeBuilder(0, {})
    builder.append(LEAVES[:300])
    reader = TileHashReader(CountingSource(builder.take_changed()))
    for index, size in ((300, 300), (-1, 300), (0, 0)):
        with pytest.raises(ProofError):
            reader.inclusion_proof(index, size)
    with pytest.raises(IntegrityError):
        reader.inclusion_proof(0, 301)  # beyond the stored tiles


def test_a_cold_proof_under_a_known_ancestor_reads_only_its_missing_tiles() -> None:
    size = L2 + 700
    builder = TreeBuilder(0, {})
    builder.append(LEAVES[:size])
    tiles = builder.take_changed()
    source = CountingSource(dict(tiles))
    tree = DictHashReader()
    tree.extend(LEAVES[:size])
    # Leaves below L2 share the part of their proofs above tile level 1. The cache holds
    # two tiles, so a proof's level-0 tile is soon evicted while the level-1 one stays.
    reader = TileHashReader(source, cache_tiles=2)
    assert reader.inclusion_proof(5, size) == tree.inclusion_proof(5)
    assert reader.inclusion_proof(300, size) == tree.inclusion_proof(300)  # evicts 0/0
    before = len(source.calls)
    assert reader.inclusion_proof(6, size) == tree.inclusion_proof(6)
    assert source.calls[before:] == [[(0, 0)]]  # its level-0 tile alone
    # Both of its tiles evicted: both in one read.
    reader.inclusion_proof(L2 + 3, size)
    reader.inclusion_proof(L2 + 300, size)
    before = len(source.calls)
    assert reader.inclusion_proof(7, size) == tree.inclusion_proof(7)
    assert source.calls[before:] == [[(0, 0), (1, 0)]]
    # A stored tile that should be full and is not: refused, not a wrong proof.
    reader.inclusion_proof(300, size)
    source.tiles[(0, 0)] = tiles[(0, 0)][:-HASH_SIZE]
    with pytest.raises(IntegrityError, match="should be full"):
        reader.inclusion_proof(8, size)
    # Stored inner nodes cut short: refused too.
    with_nodes = NodeCountingSource(dict(tiles))
    stored = TileHashReader(with_nodes, cache_tiles=2)
    stored.inclusion_proof(5, size)
    stored.inclusion_proof(300, size)
    with_nodes.nodes[(0, 0)] = naive_inner_nodes(tiles[(0, 0)])[:-1]
    with pytest.raises(IntegrityError, match="cut short"):
        stored.inclusion_proof(6, size)


@pytest.mark.parametrize("count", [0, 1, 2, 3, 255, 256])
def test_hash_pairs_hashes_each_pair_of_a_packed_row(count: int) -> None:
    row = LEAVES[:count]
    want = [hash_children(row[i], row[i + 1]) for i in range(0, count - 1, 2)]
    assert hash_pairs(b"".join(row)) == b"".join(want)


# ---- TreeBuilder -------------------------------------------------------------------------


def _build(
    leaves: list[bytes], chunks: Sequence[int], start: TreeBuilder | None = None
) -> tuple[TreeBuilder, dict[tuple[int, int], bytes]]:
    builder = start or TreeBuilder(0, {})
    store: dict[tuple[int, int], bytes] = {}
    pos, i = 0, 0
    while pos < len(leaves):
        step = chunks[i % len(chunks)]
        builder.append(leaves[pos : pos + step])
        store.update(builder.take_changed())
        pos, i = pos + step, i + 1
    return builder, store


@SETTINGS
@given(
    total=st.integers(1, 3000),
    data=st.data(),
    chunks=st.lists(st.integers(1, 600), min_size=1, max_size=4),
)
def test_a_resumed_builder_matches_one_that_never_stopped(
    total: int, data: st.DataObject, chunks: list[int]
) -> None:
    split = data.draw(st.integers(0, total), label="split")
    first, store = _build(LEAVES[:split], chunks)
    assert first.size == split
    resumed, more = _build(LEAVES[split:total], chunks[::-1], TreeBuilder(split, first.edge()))
    store.update(more)
    whole, store_whole = _build(LEAVES[:total], [total])
    assert resumed.size == whole.size == total
    assert store == store_whole
    assert resumed.edge() == whole.edge()
    assert resumed.root() == whole.root() == edge_root(whole.edge())
    assert set(store) == {(lv, n) for lv, n, _ in tile_coords_for_size(total)}


@pytest.mark.parametrize("split", [L2 - 256, L2 - 1, L2, L2 + 1])
def test_resuming_across_the_second_tile_level(
    split: int, grown: Grown, tree: DictHashReader
) -> None:
    end = L2 + 700
    first, store = _build(LEAVES[:split], [9000, 333])
    resumed, more = _build(LEAVES[split:end], [1, 255, 700], TreeBuilder(split, first.edge()))
    store.update(more)
    assert store == grown.snapshots[end]
    assert resumed.root() == grown.roots[end] == tree.root(end)
    assert resumed.edge() == grown.edges[end]


def test_take_changed_reports_each_change_once() -> None:
    builder = TreeBuilder(0, {})
    assert builder.take_changed() == {}
    builder.append(LEAVES[:256])
    assert builder.take_changed() == {
        (0, 0): b"".join(LEAVES[:256]),
        (1, 0): tile_root(b"".join(LEAVES[:256])),
    }
    assert builder.take_changed() == {}
    builder.append(LEAVES[256:257])
    assert builder.take_changed() == {(0, 1): LEAVES[256]}
    builder.append([])
    assert builder.take_changed() == {}
    assert builder.size == 257


def test_builder_refuses_leaf_hashes_of_the_wrong_size() -> None:
    builder = TreeBuilder(0, {})
    builder.append(LEAVES[:3])
    root = builder.root()
    for bad in (b"", LEAVES[3][:31], LEAVES[3] + b"\x00"):
        with pytest.raises(TileError):
            builder.append([LEAVES[3], bad])
    assert builder.size == 3
    assert builder.root() == root


def _hashes(n: int) -> bytes:
    return b"".join(LEAVES[:n])


@pytest.mark.parametrize(
    ("size", "edge"),
    [
        (1, {}),
        (300, {}),
        (300, {0: _hashes(44)}),  # level 1 missing
        (300, {0: _hashes(43), 1: _hashes(1)}),
        (300, {0: _hashes(45), 1: _hashes(1)}),
        (300, {0: _hashes(44), 1: _hashes(2)}),
        (300, {0: _hashes(44) + b"\x00", 1: _hashes(1)}),
        (300, {0: _hashes(44)[:-1], 1: _hashes(1)}),
        (256, {0: _hashes(1), 1: _hashes(1)}),  # level 0 is a full tile: no edge there
        (256, {0: _hashes(256), 1: _hashes(1)}),
        (10, {0: _hashes(10), 1: _hashes(1)}),  # a level the tree does not reach
        (10, {0: _hashes(10), 2: _hashes(1)}),
        (0, {0: _hashes(1)}),
    ],
)
def test_builder_refuses_an_edge_that_does_not_fit_the_size(
    size: int, edge: dict[int, bytes]
) -> None:
    with pytest.raises(TileError):
        TreeBuilder(size, edge)


def test_builder_accepts_an_edge_that_fits() -> None:
    builder = TreeBuilder(300, {0: _hashes(44), 1: _hashes(1)})
    assert builder.size == 300
    assert builder.edge() == {0: _hashes(44), 1: _hashes(1)}
    assert TreeBuilder(256, {1: _hashes(1)}).edge() == {1: _hashes(1)}
    assert TreeBuilder(256, {0: b"", 1: _hashes(1)}).edge() == {1: _hashes(1)}
    assert TreeBuilder(0, {}).edge() == {}


def test_tile_root_and_edge_root() -> None:
    one = LEAVES[0]
    assert tile_root(one) == one
    assert tile_root(_hashes(2)) == hash_children(LEAVES[0], LEAVES[1])
    assert tile_root(_hashes(4)) == hash_children(
        hash_children(LEAVES[0], LEAVES[1]), hash_children(LEAVES[2], LEAVES[3])
    )
    for bad in (b"", _hashes(3), _hashes(2) + b"\x00", _hashes(1)[:-1], _hashes(6)):
        with pytest.raises(TileError):
            tile_root(bad)
    with pytest.raises(TileError):
        edge_root({})
    # Five leaves: the 4-leaf subtree, then the fifth.
    assert edge_root({0: _hashes(5)}) == hash_children(tile_root(_hashes(4)), LEAVES[4])
    assert TreeBuilder(0, {}).root() == EMPTY_ROOT


def test_full_tile_nodes_are_the_tiles_heights_one_to_seven_and_its_root() -> None:
    tile = b"".join(LEAVES[:TILE_WIDTH])
    inner, root = full_tile_nodes(tile)
    assert len(inner) == INNER_NODES_BYTES == 254 * HASH_SIZE
    assert inner == naive_inner_nodes(tile)
    assert root == tile_root(tile)
    with pytest.raises(TileError):
        full_tile_nodes(tile[:-HASH_SIZE])


def test_the_builder_keeps_the_inner_nodes_of_each_completed_tile() -> None:
    builder = TreeBuilder(0, {}, keep_nodes=True)
    builder.append(LEAVES[: L2 + 300])
    tiles = builder.take_changed()
    nodes = builder.take_nodes()
    full = {c for c, t in tiles.items() if len(t) == FULL}
    assert set(nodes) == full and len(full) == TILE_WIDTH + 2  # 257 level-0, 1 level-1
    assert all(nodes[c] == naive_inner_nodes(tiles[c]) for c in full)
    assert builder.take_nodes() == {}
    quiet = TreeBuilder(0, {})
    quiet.append(LEAVES[:TILE_WIDTH])
    assert quiet.take_nodes() == {}  # not kept unless asked for


def _draw_tree(
    data: st.DataObject, all_tiles: dict[tuple[int, int], bytes]
) -> tuple[int, dict[tuple[int, int], bytes]]:
    """A tree size (a checkpoint's or any) and its tiles."""
    size = data.draw(st.one_of(st.sampled_from(CHECKPOINTS), st.integers(1, MAX)), "size")
    return size, _tiles_at(all_tiles, size)


def _draw_some(
    data: st.DataObject, coords: list[tuple[int, int]], label: str
) -> set[tuple[int, int]]:
    return data.draw(st.sets(st.sampled_from(coords)) if coords else st.just(set()), label)


def _draw_indexes(data: st.DataObject, size: int) -> list[int]:
    """Up to 8 leaf indexes of a tree of ``size``, the edge cases among them."""
    picks = st.one_of(st.sampled_from(_indices(size)), st.integers(0, size - 1))
    return data.draw(st.lists(picks, min_size=1, max_size=8), "indexes")


@SETTINGS
@given(data=st.data())
def test_stored_inner_nodes_give_the_same_proofs_in_one_read(
    data: st.DataObject, all_tiles: dict[tuple[int, int], bytes], tree: DictHashReader
) -> None:
    size, tiles = _draw_tree(data, all_tiles)
    full = sorted(c for c, t in tiles.items() if len(t) == FULL)
    # Some full tiles have their inner nodes stored, some (an older log's) do not.
    kept = _draw_some(data, full, "kept")
    source = NodeCountingSource(tiles, nodes={c: naive_inner_nodes(tiles[c]) for c in kept})
    shared = TileHashReader(source)
    for index in _draw_indexes(data, size):
        want = inclusion_proof(index, size, tree)
        cold = TileHashReader(source)
        before = len(source.calls)
        assert cold.inclusion_proof(index, size) == want
        assert len(source.calls) - before == (1 if want else 0)
        assert cold.inclusion_proof(index, size) == want
        assert shared.inclusion_proof(index, size) == want
        assert cold.read_hashes([(0, index)]) == [LEAVES[index]]


def test_stored_inner_nodes_are_used_as_they_are() -> None:
    """Proofs are read from the stored nodes, not recomputed: a wrong stored node shows
    in the proof (which is why the node's full check compares them with rebuilt ones)."""
    builder = TreeBuilder(0, {}, keep_nodes=True)
    builder.append(LEAVES[:512])
    tiles = builder.take_changed()
    nodes = builder.take_nodes()
    bad = bytearray(nodes[(0, 0)])
    bad[0] ^= 1  # height 1, node 0: the root of leaves 0 and 1
    tree = DictHashReader()
    tree.extend(LEAVES[:512])
    honest = TileHashReader(NodeCountingSource(tiles, nodes=nodes))
    wrong = TileHashReader(NodeCountingSource(tiles, nodes={**nodes, (0, 0): bytes(bad)}))
    assert honest.inclusion_proof(2, 512) == tree.inclusion_proof(2)
    assert wrong.inclusion_proof(2, 512)[1] == bytes(bad[:HASH_SIZE])
    cut = TileHashReader(NodeCountingSource(tiles, nodes={(0, 0): nodes[(0, 0)][:-1]}))
    with pytest.raises(IntegrityError):
        cut.inclusion_proof(2, 512)


@SETTINGS
@given(data=st.data())
def test_mapped_tiles_give_the_same_proofs_and_are_not_read(
    data: st.DataObject, all_tiles: dict[tuple[int, int], bytes], tree: DictHashReader
) -> None:
    size, tiles = _draw_tree(data, all_tiles)
    full = sorted(c for c, t in tiles.items() if len(t) == FULL and c[0] == 0)
    # Some full level-0 tiles are in the file, the others (written since, or not yet
    # caught up) are read with or without stored inner nodes.
    mapped = _draw_some(data, full, "mapped")
    source = MappingSource(
        tiles,
        nodes={c: naive_inner_nodes(tiles[c]) for c in full[::2]},
        mapped={c: tiles[c] + naive_inner_nodes(tiles[c]) for c in mapped},
    )
    shared = TileHashReader(source)
    for index in _draw_indexes(data, size):
        want = inclusion_proof(index, size, tree)
        cold = TileHashReader(source)
        before = len(source.calls)
        assert cold.inclusion_proof(index, size) == want
        read = [c for call in source.calls[before:] for c in call]
        assert not set(read) & mapped  # a mapped tile is never read
        assert cold.inclusion_proof(index, size) == want
        assert shared.inclusion_proof(index, size) == want
        assert cold.read_hashes([(0, index)]) == [LEAVES[index]]
        first = max(1, index)
        assert consistency_proof(first, size, cold) == consistency_proof(first, size, tree)
    if mapped and size >= TILE_WIDTH:
        probe = TileHashReader(source)
        key = min(mapped)
        maps = source.maps
        proof = probe.inclusion_proof(key[1] * TILE_WIDTH, size)
        assert proof == inclusion_proof(key[1] * TILE_WIDTH, size, tree)
        assert source.maps == maps + 1  # mapped once, then kept


def test_mapped_nodes_are_used_as_they_are_and_checked_for_length() -> None:
    builder = TreeBuilder(0, {}, keep_nodes=True)
    builder.append(LEAVES[:512])
    tiles = builder.take_changed()
    nodes = builder.take_nodes()
    bad = bytearray(tiles[(0, 0)] + nodes[(0, 0)])
    bad[FULL] ^= 1  # height 1, node 0: the root of leaves 0 and 1
    tree = DictHashReader()
    tree.extend(LEAVES[:512])
    wrong = TileHashReader(MappingSource(tiles, mapped={(0, 0): bytes(bad)}))
    assert wrong.inclusion_proof(2, 512)[1] == bytes(bad[FULL : FULL + HASH_SIZE])
    cut = TileHashReader(MappingSource(tiles, mapped={(0, 0): bytes(bad[:-1])}))
    with pytest.raises(IntegrityError):
        cut.inclusion_proof(2, 512)
