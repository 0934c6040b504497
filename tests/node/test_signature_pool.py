"""Big batches are signed and checked in the signature worker process, with the same verdicts;
while the workers are still starting, the same work is done in line."""

from __future__ import annotations

import json
import re

import pytest

from pel.crypto.keys import SigningKey
from pel.crypto.record import sign_record, verify_record
from pel.ledger.errors import BatchError
from pel.node.agency_node import Node
from pel.node.serving.signature_workers import SignaturePool
from tests import factories as f


def test_pool_signs_and_verifies_like_the_key() -> None:
    key = SigningKey.generate()
    pool = SignaturePool(key, min_batch=4)
    pool.start()
    try:
        assert pool.warm(120)
        messages = [b"message %d" % i for i in range(50)]
        sigs = pool.sign(messages)
        assert all(key.public_key.verify(s, m) for s, m in zip(sigs, messages, strict=True))
        other = SigningKey.generate().public_key
        work = [(s, m) for s, m in zip(sigs, messages, strict=True)]
        work[7] = (sigs[8], messages[7])
        assert pool.verify([other, key.public_key], work) == [i != 7 for i in range(50)]
        assert pool.verify([other], work) == [False] * 50
    finally:
        pool.stop()


def test_node_batches_use_the_worker(sqlite_node: tuple[Node, str]) -> None:
    node, _ = sqlite_node
    node.signatures.start()
    try:
        assert node.signatures.warm(120)
        drafts = [f.contribution() for _ in range(300)]
        appended = node.submit(drafts)
        entries = [node.log.entry(a.index) for a in appended]
        for e in entries:
            verify_record(json.loads(e), node.issuer_public_key)

        signed = [sign_record(f.with_issuer(f.contribution()), node.issuer_key) for _ in range(300)]
        forged = [5, 250]
        intruder = SigningKey.generate()
        for i in forged:
            signed[i] = sign_record(signed[i], intruder)
        size = node.log.state()[0]
        with pytest.raises(BatchError) as info:
            node.submit(signed)
        assert [p for p, _ in info.value.problems] == forged
        assert {e.code for _, e in info.value.problems} == {"bad_signature"}
        assert node.log.state()[0] == size
        good = [r for i, r in enumerate(signed) if i not in forged]
        assert len(node.submit(good)) == 298
    finally:
        node.signatures.stop()


def test_mirrored_entries_are_checked_on_the_workers_like_in_line() -> None:
    from pel.ledger.errors import MirrorError
    from pel.ledger.federation.mirror_store import check_entries
    from tests.ledger.test_mirror import Source

    src = Source()
    src.grow(300)
    log = src.log()
    pool = SignaturePool(SigningKey.generate(), min_batch=4, min_mirror_batch=100)
    pool.start()
    try:
        assert pool.warm(120)
        on_pool = pool.start_check_mirrored(src.entries, 7, log)()
        assert on_pool == check_entries(src.entries, 7, log)
        # Bad entries in both workers' halves: the first in log order is the one named.
        bad = list(src.entries)
        bad[250] = src.record(issuer="MY-PERKESO")
        bad[200] = src.record().replace(b'"2450.00"', b'"9450.00"')
        for entries, code, index in (
            (bad, "bad_signature", 200),
            (bad[:200] + bad[201:], "foreign_issuer", 249),
        ):
            with pytest.raises(MirrorError) as in_line:
                check_entries(entries, 0, log)
            with pytest.raises(MirrorError) as on_workers:
                pool.start_check_mirrored(entries, 0, log)()
            assert on_workers.value.code == in_line.value.code == code
            assert on_workers.value.message == in_line.value.message
            assert re.search(rf"entry {index}\b", in_line.value.message)
    finally:
        pool.stop()


def test_work_is_done_in_line_while_the_workers_start() -> None:
    key = SigningKey.generate()
    pool = SignaturePool(key, min_batch=4)
    assert not pool.warm(0)  # not started: nothing to wait for
    pool.start()
    try:
        messages = [b"message %d" % i for i in range(50)]
        sigs = pool.sign(messages)  # the workers are loading: signed here, and started
        assert all(key.public_key.verify(s, m) for s, m in zip(sigs, messages, strict=True))
        assert pool.warm(120)
        assert pool.sign(messages) == sigs  # Ed25519 is deterministic: the same, on a worker
    finally:
        pool.stop()
    assert not pool.warm(0)
