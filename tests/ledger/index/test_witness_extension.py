"""A witness cosigns one index per tree size: the same tree again with another index
root (another extension line) is refused, so that every cosigned checkpoint of one size
commits to the same index."""

from __future__ import annotations

import base64

import pytest

from pel.ledger.errors import WitnessError
from pel.ledger.federation.witness import Witness
from pel.ledger.index import extension_line
from pel.ledger.tlog.checkpoint import Checkpoint, sign_checkpoint
from tests.ledger.test_witness import ORIGIN, FakeLog, witness

__all__ = ["witness"]


def request(log: FakeLog, old: int, index_root: bytes) -> bytes:
    size = log.tree.size
    cp = Checkpoint(ORIGIN, size, log.tree.root(size), (extension_line(index_root),))
    proof = log.tree.consistency_proof(old, size) if 0 < old < size else []
    lines = [f"old {old}"] + [base64.b64encode(h).decode() for h in proof]
    return ("\n".join(lines) + "\n\n").encode() + sign_checkpoint(cp, log.signer)


def test_one_index_root_per_cosigned_size(witness: Witness) -> None:
    log = FakeLog()
    witness.logs[ORIGIN] = log.signer.verifier
    log.grow(5)
    witness.add_checkpoint(request(log, 0, b"\x01" * 32), now=1_700_000_000)
    # The same checkpoint again is cosigned again.
    witness.add_checkpoint(request(log, 5, b"\x01" * 32), now=1_700_000_001)
    with pytest.raises(WitnessError) as caught:
        witness.add_checkpoint(request(log, 5, b"\x02" * 32), now=1_700_000_002)
    assert caught.value.code == "conflicting_extension" and caught.value.http_status == 409
    # The log goes on growing, with any index root for a new size.
    log.grow(3)
    witness.add_checkpoint(request(log, 5, b"\x03" * 32), now=1_700_000_003)
