"""Checking a log's committed index against the index rebuilt from its entries, and
finding the evidence when they differ (``pel audit`` and the mirror follower).

Nobody has to trust a log's index: whoever holds the entries rebuilds it
(:class:`~ledger.index.MemoryIndex`) and compares its root with the one the signed
checkpoint commits to. When they differ, the log's own answers locate the lie: for the
PWIDs whose records arrived since the roots last agreed, the log's index proof (checked
against the committed root) is compared with the rebuilt list; the first index on
which they differ, with that entry and its inclusion proof, is
:class:`~ledger.federation.index_evidence.IndexEvidence` that anyone checks offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pel.crypto.errors import PelError
from pel.crypto.note import NoteVerifier
from pel.ledger.federation.index_evidence import IndexEvidence, verify_index_evidence
from pel.ledger.index import MemoryIndex, parse_extension, verify_index_proof
from pel.ledger.merkle.proof import inclusion_proof
from pel.ledger.merkle.tiles import TILE_WIDTH, TileHashReader, decode_entry_bundle
from pel.ledger.tlog.checkpoint import SignedCheckpoint
from pel.node.peers.client import LogClient, ServedTiles

MAX_ASKED = 2000
"""PWIDs asked about at most, per wrong root, to locate the difference."""


def pwid_of(entry: bytes) -> str:
    """The pwid a log indexes an entry under ("" for an entry that is not a record)."""
    try:
        record = json.loads(entry)
    except ValueError:
        return ""
    pwid = record.get("pwid") if isinstance(record, dict) else None
    return pwid if isinstance(pwid, str) else ""


@dataclass
class IndexVerdict:
    """The outcome of one comparison: ``ok``; or the rebuilt and committed roots with,
    when found, the evidence and what it proves."""

    ok: bool
    committed: bytes | None = None
    rebuilt: bytes | None = None
    evidence: IndexEvidence | None = None
    how: str = ""


def check_index(
    client: LogClient,
    signed: SignedCheckpoint,
    index: MemoryIndex,
    candidates: Iterable[str],
    log_key: NoteVerifier,
) -> IndexVerdict:
    """Compare the index root ``signed`` commits to with ``index`` (rebuilt over exactly
    its entries); on a difference, look for evidence among ``candidates``.

    Raises:
        ValueError: ``index`` is not over the checkpoint's entries.
    """
    cp = signed.checkpoint
    if index.size != cp.size:
        raise ValueError(f"the rebuilt index has {index.size} entries, the checkpoint {cp.size}")
    committed = parse_extension(cp.extensions)
    rebuilt = index.root()
    if committed == rebuilt:
        return IndexVerdict(True, committed, rebuilt)
    verdict = IndexVerdict(False, committed, rebuilt)
    if committed is None:
        return verdict
    for pwid in sorted(set(candidates))[:MAX_ASKED]:
        try:
            proof = client.index_proof(pwid, cp.size)
            verify_index_proof(proof, pwid, committed)
        except PelError:
            continue  # no answer that holds: this PWID locates nothing
        ours = index.lists.get(pwid, [])
        differ = sorted(set(ours) ^ set(proof.indexes))
        if not differ:
            continue
        at = differ[0]
        try:
            entry = _entry(client, at, cp.size)
            path = inclusion_proof(at, cp.size, TileHashReader(ServedTiles(client, cp.size)))
            evidence = IndexEvidence(cp.origin, signed.note, pwid, proof, at, entry, tuple(path))
            verdict.how = verify_index_evidence(evidence, log_key)
        except PelError:
            continue
        verdict.evidence = evidence
        return verdict
    return verdict


def _entry(client: LogClient, index: int, size: int) -> bytes:
    n = index // TILE_WIDTH
    width = min(TILE_WIDTH, size - n * TILE_WIDTH)
    bundle = client.entry_bundle(n, None if width == TILE_WIDTH else width)
    return decode_entry_bundle(bundle)[index % TILE_WIDTH]


def index_text(index: MemoryIndex) -> str:
    """The index's lists as JSON text (kept beside an auditor's state)."""
    return json.dumps({"size": index.size, "lists": index.lists}, sort_keys=True)


def load_index(path: Path, size: int) -> MemoryIndex | None:
    """The index saved at ``path`` if it covers exactly ``size`` entries, else None."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        pairs = sorted((i, p) for p, idxs in saved["lists"].items() for i in idxs)
        if saved["size"] != size or [i for i, _ in pairs] != list(range(size)):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    index = MemoryIndex()
    for i, p in pairs:
        index.add(i, p)
    return index
