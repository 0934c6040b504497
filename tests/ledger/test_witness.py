"""C2SP tlog-witness: cosign only checkpoints that extend the last cosigned one."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.crypto.cosignature import CosignatureSigner, MLDSACosignatureSigner, verify_cosignature
from pel.crypto.keys import SigningKey
from pel.crypto.mldsa import MLDSASigningKey
from pel.crypto.note import NoteSigner, open_note, parse_note
from pel.ledger.errors import WitnessError
from pel.ledger.federation.evidence import verify_fork
from pel.ledger.federation.witness import Witness, parse_request
from pel.ledger.merkle.memory import DictHashReader
from pel.ledger.storage.engine import create_schema, make_engine
from pel.ledger.tlog.checkpoint import Checkpoint, sign_checkpoint
from pel.node.agency_node import Node

ORIGIN = "example.org/log"


class FakeLog:
    """A log of n leaves that signs checkpoints, for feeding a witness."""

    def __init__(self, key: SigningKey | None = None, salt: bytes = b"") -> None:
        self.signer = NoteSigner(ORIGIN, key or SigningKey.generate())
        self.tree = DictHashReader()
        self.salt = salt

    def grow(self, n: int) -> None:
        for _ in range(n):
            i = self.tree.size
            self.tree.append(hashlib.sha256(self.salt + i.to_bytes(8, "big")).digest())

    def note(self, size: int | None = None) -> bytes:
        size = self.tree.size if size is None else size
        return sign_checkpoint(Checkpoint(ORIGIN, size, self.tree.root(size)), self.signer)

    def request(self, old: int, size: int | None = None, proof: list[bytes] | None = None) -> bytes:
        size = self.tree.size if size is None else size
        if proof is None:
            proof = self.tree.consistency_proof(old, size) if 0 < old < size else []
        lines = [f"old {old}"] + [base64.b64encode(h).decode() for h in proof]
        return ("\n".join(lines) + "\n\n").encode() + self.note(size)


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    create_schema(engine)
    w = Witness(engine, CosignatureSigner("witness.example/w", SigningKey.generate()), {})
    return w


def test_cosigns_a_growing_log(witness: Witness) -> None:
    log = FakeLog()
    witness.logs[ORIGIN] = log.signer.verifier
    log.grow(5)
    line = witness.add_checkpoint(log.request(0), now=1_700_000_000)
    # The answer is a cosignature line that the client appends to the checkpoint.
    note = log.note() + line
    opened = open_note(note, [log.signer.verifier, witness.signer.verifier])
    assert witness.signer.verifier in opened.verified
    sig = parse_note(note).signatures[1]
    assert verify_cosignature(opened.text, sig, witness.signer.verifier) == 1_700_000_000
    for grow in (1, 300, 7):
        old = log.tree.size
        log.grow(grow)
        witness.add_checkpoint(log.request(old), now=1_700_000_001)
    assert witness.latest(ORIGIN)[0] == log.tree.size  # type: ignore[index]
    # The same checkpoint again is fine (old size = size, same root).
    witness.add_checkpoint(log.request(log.tree.size), now=1_700_000_002)


def status(witness: Witness, body: bytes) -> tuple[int, str, int | None]:
    with pytest.raises(WitnessError) as info:
        witness.add_checkpoint(body, now=1)
    return info.value.http_status, info.value.code, info.value.latest_size


def test_refusals_follow_the_spec(witness: Witness) -> None:
    log = FakeLog()
    log.grow(10)
    assert status(witness, log.request(0))[0] == 404  # unknown origin
    witness.logs[ORIGIN] = log.signer.verifier
    stranger = FakeLog()
    stranger.grow(10)
    assert status(witness, stranger.request(0))[:2] == (403, "bad_signature")
    witness.add_checkpoint(log.request(0, 4), now=1)
    assert status(witness, log.request(3))[::2] == (409, 4)  # stale old size
    assert status(witness, log.request(0))[::2] == (409, 4)
    assert status(witness, log.request(11, 10, []))[0] == 400  # old > size
    bad = log.tree.consistency_proof(4, 10)
    bad[0] = bytes(32)
    assert status(witness, log.request(4, 10, bad))[:2] == (422, "bad_consistency_proof")
    for body in (
        b"",
        b"old 01\n\n" + log.note(),
        b"old 4\nnot base64!\n\n" + log.note(),
        b"old 4\n" + b"AAAA\n" * 64 + b"\n" + log.note(),
        b"old 4\n\n" + ORIGIN.encode() + b"\n4\nno signature\n",
    ):
        assert status(witness, body)[0] == 400, body[:20]
    # Nothing refused moved the state.
    assert witness.latest(ORIGIN)[0] == 4  # type: ignore[index]


def test_a_fork_is_detected_and_the_log_flagged(witness: Witness) -> None:
    key = SigningKey.generate()
    honest, fork = FakeLog(key), FakeLog(key, salt=b"fork")
    witness.logs[ORIGIN] = honest.signer.verifier
    honest.grow(8)
    fork.grow(8)
    witness.add_checkpoint(honest.request(0), now=1)
    # Same size, other root: refused with the size on record.
    assert status(witness, fork.request(8))[:3] == (409, "conflicting_root", 8)
    assert witness.flagged(ORIGIN)
    # From then on the log is not cosigned, even honest checkpoints.
    honest.grow(2)
    assert status(witness, honest.request(8))[:2] == (403, "log_flagged")


def test_inconsistent_growth_is_kept_but_not_proven(witness: Witness) -> None:
    key = SigningKey.generate()
    honest, fork = FakeLog(key), FakeLog(key, salt=b"fork")
    witness.logs[ORIGIN] = honest.signer.verifier
    honest.grow(8)
    witness.add_checkpoint(honest.request(0), now=1)
    fork.grow(12)
    assert status(witness, fork.request(8))[:2] == (422, "bad_consistency_proof")
    # A failing proof alone proves no fork: recorded, not flagged; the honest log goes on.
    [(proven, evidence)] = witness.evidence()
    assert not proven and not witness.flagged(ORIGIN)
    assert evidence.first == honest.note(8) and evidence.second == fork.note(12)
    honest.grow(1)
    witness.add_checkpoint(honest.request(8), now=2)


def test_a_proven_fork_is_recorded_as_such(witness: Witness) -> None:
    key = SigningKey.generate()
    honest, fork = FakeLog(key), FakeLog(key, salt=b"fork")
    witness.logs[ORIGIN] = honest.signer.verifier
    honest.grow(5)
    fork.grow(5)
    witness.add_checkpoint(honest.request(0), now=1)
    status(witness, fork.request(5))
    [(proven, evidence)] = witness.evidence()
    assert proven
    assert "two different roots" in verify_fork(evidence, honest.signer.verifier)


def test_parse_request() -> None:
    req = parse_request(b"old 3\n" + base64.b64encode(bytes(32)) + b"\n\nx\n")
    assert req.old_size == 3 and req.proof == [bytes(32)] and req.note == b"x\n"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, Node]]:
    from pel.node.agency_node import init_node

    node, _ = init_node(tmp_path / "n", agency="MY-PERKESO", origin="perkeso.gov.my/pel")
    with TestClient(create_app(node)) as c:
        yield c, node


def test_http_add_checkpoint(client: tuple[TestClient, Node]) -> None:
    c, node = client
    log = FakeLog()
    log.grow(3)
    r = c.post("/add-checkpoint", content=log.request(0))
    assert r.status_code == 404
    node.witness.logs[ORIGIN] = log.signer.verifier
    r = c.post("/add-checkpoint", content=log.request(0))
    assert r.status_code == 200 and r.text.startswith("\u2014 perkeso.gov.my/witness ")
    r = c.post("/add-checkpoint", content=log.request(0))
    assert r.status_code == 409
    assert r.headers["content-type"] == "text/x.tlog.size" and r.text == "3\n"
    r = c.post("/add-checkpoint", content=b"garbage")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    info = c.get("/v1/node").json()
    assert info["witness_vkey"] == node.witness.signer.vkey


def test_a_witness_with_two_keys_answers_two_lines(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w2.db'}")
    create_schema(engine)
    name = "witness.example/w"
    w = Witness(
        engine,
        CosignatureSigner(name, SigningKey.generate()),
        {},
        MLDSACosignatureSigner(name, MLDSASigningKey.generate()),
    )
    log = FakeLog()
    w.logs[ORIGIN] = log.signer.verifier
    log.grow(3)
    lines = w.add_checkpoint(log.request(0), now=1_700_000_000)
    note = log.note() + lines
    assert w.pq_signer is not None
    keys = [w.signer.verifier, w.pq_signer.verifier]
    opened = open_note(note, [log.signer.verifier, *keys])
    assert set(opened.verified) == {log.signer.verifier, *keys}
    sigs = parse_note(note).signatures[1:]
    assert [len(s.payload) for s in sigs] == [72, 2428]
    for sig, key in zip(sigs, keys, strict=True):
        assert verify_cosignature(opened.text, sig, key) == 1_700_000_000
