"""``pel verify``: check a remote log from its public tlog-tiles data alone.

Fetches the checkpoint (verified with the given log key), every entry bundle and
every tile, rehashes every entry, rebuilds every tile and the root, compares them
with what was served, and checks a sample of the node's inclusion proofs against
the checkpoint. Optionally checks every record's issuer signature.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from crypto.errors import PelError
from crypto.keys import PublicKey
from crypto.note import NoteVerifier
from crypto.record import record_signature, record_signing_bytes
from ledger.checkpoint import open_checkpoint
from ledger.errors import IntegrityError
from ledger.merkle.hashing import hash_leaf
from ledger.merkle.proof import verify_inclusion
from ledger.merkle.tiles import TILE_WIDTH, decode_entry_bundle
from ledger.tilecheck import TileRebuilder, compare_tiles
from node.client import LogClient
from node.parallel import parallel_map


@dataclass
class VerifyReport:
    """What ``verify_log`` checked."""

    origin: str = ""
    tree_size: int = 0
    root: bytes = b""
    entries: int = 0
    tiles: int = 0
    signatures: int = 0
    proofs: int = 0
    problems: list[str] = field(default_factory=list)


def _bundles(
    client: LogClient, size: int, workers: int
) -> Iterator[tuple[int, list[bytes], bytes]]:
    """``(n, entries, level-0 tile)`` for every bundle in order, fetched in parallel."""
    count = (size + TILE_WIDTH - 1) // TILE_WIDTH

    def fetch(n: int) -> tuple[int, list[bytes], bytes]:
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        w = None if width == TILE_WIDTH else width
        entries = decode_entry_bundle(client.entry_bundle(n, w))
        if len(entries) != width:
            raise IntegrityError(f"entry bundle {n} has {len(entries)} entries, expected {width}")
        return n, entries, client.tile(0, n, w)

    with ThreadPoolExecutor(workers) as pool:
        step = workers * 4
        for start in range(0, count, step):
            yield from pool.map(fetch, range(start, min(count, start + step)))


def _check_signatures(entries: list[bytes], first: int, key: PublicKey) -> None:
    """Every entry's issuer signature; the Ed25519 work runs on every core."""
    work = []
    for i, e in enumerate(entries):
        try:
            record = json.loads(e)
            work.append((record_signature(record), record_signing_bytes(record)))
        except (PelError, ValueError, AttributeError) as exc:
            raise IntegrityError(f"entry {first + i}: not a signed record: {exc}") from None
    ok = parallel_map(lambda w: key.verify(w[0], w[1]), work)
    if not all(ok):
        bad = first + ok.index(False)
        raise IntegrityError(f"entry {bad}: the issuer signature does not verify")


def _fetch_tiles(client: LogClient, coords: list[tuple[int, int]], partial: dict) -> list[bytes]:
    out = []
    for level, index in coords:
        width = len(partial[(level, index)]) // 32 if (level, index) in partial else None
        out.append(client.tile(level, index, width))
    return out


def verify_log(
    client: LogClient,
    log_key: NoteVerifier,
    *,
    issuer_key: PublicKey | None = None,
    samples: int = 100,
    workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
    rng: random.Random | None = None,
) -> VerifyReport:
    """Verify a log end to end; raise a ``PelError`` on the first failure."""
    report = VerifyReport()
    signed = open_checkpoint(client.checkpoint(), log_key)
    cp = signed.checkpoint
    report.origin, report.tree_size, report.root = cp.origin, cp.size, cp.root
    rebuilt = TileRebuilder()
    leaf_hashes: dict[int, bytes] = {}
    rng = rng or random.Random()
    sample = set(rng.sample(range(cp.size), min(samples, cp.size))) if cp.size else set()
    for n, entries, tile0 in _bundles(client, cp.size, workers):
        first = n * TILE_WIDTH
        hashes = [hash_leaf(e) for e in entries]
        for index in sample.intersection(range(first, first + len(entries))):
            leaf_hashes[index] = hashes[index - first]
        if issuer_key is not None:
            _check_signatures(entries, first, issuer_key)
            report.signatures += len(entries)
        full = rebuilt.add(hashes)
        if full:
            fetched = {(0, n): tile0}
            upper = sorted(c for c in full if c[0] > 0)
            fetched.update(zip(upper, _fetch_tiles(client, upper, {}), strict=True))
            compare_tiles(full, [fetched[c] for c in sorted(full)], "served")
            report.tiles += len(full)
        elif b"".join(hashes) != tile0:
            raise IntegrityError(f"served tile 0/{n} does not match the hashes of the entries")
        report.entries += len(entries)
        if progress:
            progress(report.entries, cp.size)
    partial = rebuilt.partial_tiles()
    if partial:
        compare_tiles(partial, _fetch_tiles(client, sorted(partial), partial), "served")
        report.tiles += len(partial)
    if cp.size and rebuilt.root() != cp.root:
        raise IntegrityError("the entries served do not hash to the checkpoint's root")
    for index in sorted(sample):
        proof = client.inclusion_proof(index, cp.size)
        verify_inclusion(index, cp.size, leaf_hashes[index], proof, cp.root)
        report.proofs += 1
    return report
