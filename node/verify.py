"""``pel verify``: check a remote log from its public tlog-tiles data alone.

Fetches the checkpoint (verified with the given log key), every entry bundle and
every tile, rehashes every entry, rebuilds every tile and the root, compares them
with what was served, and checks a sample of the node's inclusion proofs against
the checkpoint. Optionally checks every record's issuer signature.
"""

from __future__ import annotations

import json
import multiprocessing
import random
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
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
from node.parallel import WORKERS, submit_crypto

PROCESSES_FROM = 20_000
"""Logs of at least this many entries have their signatures checked in worker processes."""


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
    bundles, so parsing and hashing overlap with the Ed25519 work instead of waiting for
    it. Results are settled in log order, at most ``ahead`` bundles behind, so the first
    bad entry is the one reported (a problem may surface at a later ``submit`` or at
    ``finish``).

    ``processes``: verify in one worker process per core rather than in threads.
    ``cryptography`` holds the GIL for part of each verification, so threads of one
    process reach about 1.5 cores, and they compete with the parsing; worker processes
    cost a start-up of a fraction of a second, worth it for big logs only.
    """

    def __init__(self, key: PublicKey, *, ahead: int = 8, processes: bool = False) -> None:
        self._key = key
        self._ahead = ahead
        self._pending: deque[list[Future[str | None]]] = deque()
        self._pool: ProcessPoolExecutor | None = None
        if processes:
            self._pool = ProcessPoolExecutor(
                max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn")
            )

    def submit(self, entries: list[bytes], first: int) -> None:
        """Queue the signatures of ``entries`` (the first is entry ``first``)."""
        size = -(-len(entries) // WORKERS)
        chunks = [(first + i, entries[i : i + size]) for i in range(0, len(entries), size)]
        raw = self._key.raw
        if self._pool is not None:
            futures = [self._pool.submit(check_signatures, raw, c, at) for at, c in chunks]
        else:
            futures = [submit_crypto(check_signatures, raw, c, at) for at, c in chunks]
        self._pending.append(futures)
        while len(self._pending) > self._ahead:
            self._settle()

    def finish(self) -> None:
        """Wait for every queued check; raise on the first bad signature."""
        try:
            while self._pending:
                self._settle()
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _settle(self) -> None:
        for future in self._pending.popleft():
            problem = future.result()
            if problem is not None:
                self._pending.clear()
                self.close()
                raise IntegrityError(problem)


def check_signatures(raw_key: bytes, entries: list[bytes], first: int) -> str | None:
    """What is wrong with the first entry (entry ``first`` onwards) that is not a record
    signed by ``raw_key``, or None. A plain function, so that worker processes run it:
    the parsing and canonical JSON are theirs too."""
    key = PublicKey(raw_key)
    for i, e in enumerate(entries):
        try:
            record = json.loads(e)
            sig, message = record_signature(record), record_signing_bytes(record)
        except (PelError, ValueError, AttributeError) as exc:
            return f"entry {first + i}: not a signed record: {exc}"
        if not key.verify(sig, message):
            return f"entry {first + i}: the issuer signature does not verify"
    return None


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
    signatures = None
    if issuer_key is not None:
        signatures = _SignatureChecks(issuer_key, processes=cp.size >= PROCESSES_FROM)
    try:
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
    finally:
        if signatures is not None:
            signatures.close()
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
