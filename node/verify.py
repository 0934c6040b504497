"""``pel verify``: check a remote log from its public tlog-tiles data alone.

Fetches the checkpoint (verified with the given log key), every entry bundle and
every tile, rehashes every entry, rebuilds every tile and the root, compares them
with what was served, and checks a sample of the node's inclusion proofs against
the checkpoint. Optionally checks every record's issuer signature.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
from node.parallel import map_chunks_async


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
        # A window of fetches kept in flight, topped up as each bundle is taken.
        window: deque[Future[tuple[int, list[bytes], bytes]]] = deque()
        following = 0
        for _ in range(count):
            while following < count and len(window) < workers * 4:
                window.append(pool.submit(fetch, following))
                following += 1
            yield window.popleft().result()


class _SignatureChecks:
    """Issuer signatures checked on every core while the caller goes on with the next
    bundles: the Ed25519 work releases the GIL, so parsing and hashing (which hold it)
    overlap with it instead of waiting for it. Results are settled in log order, at
    most ``ahead`` bundles behind, so the first bad entry is the one reported."""

    def __init__(self, key: PublicKey, ahead: int = 8) -> None:
        self._key = key
        self._ahead = ahead
        self._pending: deque[list[Future[int]]] = deque()

    def submit(self, entries: list[bytes], first: int) -> None:
        """Queue the signatures of ``entries`` (the first is entry ``first``)."""
        work = []
        for i, e in enumerate(entries):
            try:
                record = json.loads(e)
                work.append((first + i, record_signature(record), record_signing_bytes(record)))
            except (PelError, ValueError, AttributeError) as exc:
                raise IntegrityError(f"entry {first + i}: not a signed record: {exc}") from None
        verify = self._key.verify

        def first_bad(chunk: Sequence[tuple[int, bytes, bytes]]) -> int:
            for index, sig, message in chunk:
                if not verify(sig, message):
                    return index
            return -1

        self._pending.append(map_chunks_async(first_bad, work))
        while len(self._pending) > self._ahead:
            self._settle()

    def finish(self) -> None:
        """Wait for every queued check; raise on the first bad signature."""
        while self._pending:
            self._settle()

    def _settle(self) -> None:
        for future in self._pending.popleft():
            bad = future.result()
            if bad >= 0:
                self._pending.clear()
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
    signatures = _SignatureChecks(issuer_key) if issuer_key is not None else None
    for n, entries, tile0 in _bundles(client, cp.size, workers):
        first = n * TILE_WIDTH
        hashes = [hash_leaf(e) for e in entries]
        for index in sample.intersection(range(first, first + len(entries))):
            leaf_hashes[index] = hashes[index - first]
        if signatures is not None:
            signatures.submit(entries, first)
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
    if signatures is not None:
        signatures.finish()
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
