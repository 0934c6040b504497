"""Big batches are signed and checked in the signature worker process, with the same verdicts."""

from __future__ import annotations

import json

import pytest

from crypto.keys import SigningKey
from crypto.record import sign_record, verify_record
from ledger.errors import BatchError
from node.node import Node
from node.parallel import SignaturePool
from tests import factories as f


def test_pool_signs_and_verifies_like_the_key() -> None:
    key = SigningKey.generate()
    pool = SignaturePool(key, min_batch=4)
    pool.start()
    try:
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
