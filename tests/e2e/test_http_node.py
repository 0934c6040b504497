"""A node over real HTTP on a free loopback port: 10 000 records in batches, then the
whole log fetched back through tlog-tiles and checked with independent code."""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import threading
import time

from pel.api.app import create_app
from pel.ledger.merkle.proof import verify_consistency, verify_inclusion
from pel.ledger.merkle.tiles import decode_entry_bundle
from pel.ledger.storage.models import CheckpointRow
from pel.ledger.tlog.checkpoint import open_checkpoint
from pel.node.agency_node import Node
from pel.node.demo.synth import synth_drafts
from pel.node.peers.client import LogClient
from tests.conftest import serve
from tests.treehash import mth

RECORDS = 10_000
BATCH = 500


def leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def test_ten_thousand_records_over_http(node_and_token: tuple[Node, str]) -> None:
    node, token = node_and_token
    drafts = list(synth_drafts(node.agency, RECORDS, seed=7))
    observed: dict[int, bytes] = {}
    done = threading.Event()
    failures: list[BaseException] = []

    with serve(create_app(node)) as url:

        def ingest() -> None:
            try:
                with LogClient(url, token=token) as c:
                    for i in range(0, RECORDS, BATCH):
                        answer = c.submit(drafts[i : i + BATCH])
                        assert [r["index"] for r in answer["records"]] == list(range(i, i + BATCH))
            except BaseException as exc:  # surfaced below
                failures.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=ingest)
        worker.start()
        with LogClient(url, token=token) as reader:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    note = reader.checkpoint()
                    cp = open_checkpoint(note, node.log_verifier).checkpoint
                    observed[cp.size] = note
                    if done.is_set() and cp.size == RECORDS:
                        break
                except Exception:  # no checkpoint yet
                    pass
                time.sleep(0.05)
            worker.join(60)
            assert not failures, failures
            latest = open_checkpoint(reader.checkpoint(), node.log_verifier).checkpoint
            assert latest.size == RECORDS
            during = sorted(s for s in observed if 0 < s < RECORDS)
            assert during, "no checkpoint was observed during ingestion"

            # Every tile and entry bundle, over HTTP.
            entries: list[bytes] = []
            for n in range((RECORDS + 255) // 256):
                width = min(256, RECORDS - n * 256)
                bundle = reader.entry_bundle(n, None if width == 256 else width)
                got = decode_entry_bundle(bundle)
                assert len(got) == width
                tile0 = reader.tile(0, n, None if width == 256 else width)
                assert tile0 == b"".join(leaf(e) for e in got)
                entries.extend(got)
            full1 = RECORDS // 256
            tile1 = reader.tile(1, 0, full1)
            assert tile1 == b"".join(mth(entries[i * 256 : (i + 1) * 256]) for i in range(full1))
            assert mth(entries) == latest.root

            # 100 random inclusion proofs against the final checkpoint.
            rng = random.Random(11)
            for index in rng.sample(range(RECORDS), 100):
                proof = reader.inclusion_proof(index, RECORDS)
                verify_inclusion(index, RECORDS, leaf(entries[index]), proof, latest.root)

            # Consistency between two checkpoints seen during ingestion, and to the last.
            a, b = during[0], during[-1]
            roots = {
                s: open_checkpoint(observed[s], node.log_verifier).checkpoint.root for s in during
            }
            if a != b:
                verify_consistency(a, b, roots[a], roots[b], reader.consistency_proof(a, b))
            for s in during:
                verify_consistency(
                    s, RECORDS, roots[s], latest.root, reader.consistency_proof(s, RECORDS)
                )

    # Every checkpoint the node published is signed and is the root of a prefix of the
    # same entries: each is consistent with every earlier one.
    with node.engine.connect() as conn:
        rows = conn.execute(CheckpointRow.__table__.select()).all()
    assert len(rows) >= 2
    for row in rows:
        cp = open_checkpoint(bytes(row.note), node.log_verifier).checkpoint
        assert cp.size == row.size
        assert cp.root == mth(entries[: cp.size]), f"checkpoint {cp.size} is not a prefix root"
    sizes = sorted(int(r.size) for r in rows)
    for s1, s2 in itertools.pairwise(sizes):
        r1, r2 = mth(entries[:s1]), mth(entries[:s2])
        verify_consistency(s1, s2, r1, r2, node.log.consistency_proof(s1, s2))
    assert base64.b64encode(latest.root)
