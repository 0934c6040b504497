"""Nobody has to trust a log's index: ``pel audit`` and a member's mirror rebuild it
from the served entries and compare it with the root each checkpoint commits to. A
node whose index leaves out one of a worker's records is caught by both, with evidence
that verifies offline with the log's key alone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from pel.crypto.cosignature import CosignatureSigner
from pel.crypto.keys import SigningKey
from pel.crypto.note import NoteSigner, parse_vkey
from pel.ledger.errors import EvidenceError
from pel.ledger.federation.index_evidence import (
    IndexEvidence,
    index_evidence,
    verify_index_evidence,
)
from pel.ledger.federation.mirror_store import MirrorStore
from pel.ledger.federation.trust_list import Member, SignedTrustList, TrustList
from pel.ledger.storage.engine import create_schema, make_engine
from pel.ledger.tlog.log import Log
from pel.node.access.tokens import create_token
from pel.node.agency_node import Node
from pel.node.peers.mirror_follower import MirrorFollower
from tests import factories as f
from tests.node.test_cli import node_dir, run, served

__all__ = ["node_dir", "served"]


def integrated(node: Node, size: int) -> None:
    deadline = time.monotonic() + 20
    while node.log.state()[1] != size:
        assert time.monotonic() < deadline, "the node did not integrate its records"
        time.sleep(0.05)


@pytest.fixture
def omitted(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[int]]:
    """Make every log of this process leave the indexes in the yielded set out of its
    index (and out of its index answers, so it lies consistently)."""
    drop: set[int] = set()
    index_entries, pwid_indexes = Log._index_entries, Log._pwid_indexes

    def lying_entries(
        self: Log, conn: Any, start: int, end: int, held: list[str] | None = None
    ) -> list[tuple[int, str]]:
        return [
            (i, p if i not in drop else "TH-ZZZZZZZZZZZZZZZZ")
            for i, p in index_entries(self, conn, start, end, held)
        ]

    def lying_indexes(self: Log, conn: Any, pwid: str, size: int) -> list[int]:
        return [i for i in pwid_indexes(self, conn, pwid, size) if i not in drop]

    monkeypatch.setattr(Log, "_index_entries", lying_entries)
    monkeypatch.setattr(Log, "_pwid_indexes", lying_indexes)
    yield drop


AUDITORS: dict[str, str] = {}  # an auditor token of the node serving each URL


def auditor(url: str, node: Node) -> str:
    if url not in AUDITORS:
        AUDITORS[url] = create_token(node.tokens, node.agency, "audit office", role="auditor")
    return AUDITORS[url]


def audit(url: str, state: Path, info: dict, node: Node) -> tuple[int, str, str]:
    keys = ("--vkey", info["log_vkey"], "--issuer-key", info["issuer_key"])
    return run("audit", url, "--state", str(state), *keys, "--token", auditor(url, node))


def test_an_honest_index_passes_and_is_checked_again_on_resume(
    served: tuple[str, Node, dict], tmp_path: Path
) -> None:
    url, node, info = served
    node.submit([f.contribution(pwid=f.PWID if i % 2 else f.PWID2) for i in range(30)])
    integrated(node, 30)
    code, _, err = audit(url, tmp_path / "a", info, node)
    assert code == 0, err
    node.submit([f.contribution(pwid=f.PWID) for _ in range(5)])
    integrated(node, 35)
    code, _, err = run(
        "audit", url, "--state", str(tmp_path / "a"), "--vkey", info["log_vkey"],
        "--issuer-key", info["issuer_key"], "--report", str(tmp_path / "r.json"),
        "--token", auditor(url, node),
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["index"] == {"size": 35, "result": "rebuilt root matches"}
    assert (tmp_path / "a" / "index.json").exists()


def test_an_index_that_omits_a_record_is_caught_with_offline_evidence(
    served: tuple[str, Node, dict], omitted: set[int], tmp_path: Path
) -> None:
    url, node, info = served
    records = [f.contribution(pwid=f.PWID if i % 3 == 0 else f.PWID2) for i in range(20)]
    node.submit(records[:10])
    integrated(node, 10)
    code, _, err = audit(url, tmp_path / "a", info, node)
    assert code == 0, err  # honest so far
    omitted.add(12)  # a record of PWID: index 12 = 12 % 3 == 0
    node.submit(records[10:])
    integrated(node, 20)
    code, _, err = audit(url, tmp_path / "a", info, node)
    assert code == 1 and "[wrong_index]" in err and "Traceback" not in err, err
    [path] = [Path(line.split()[1]) for line in err.splitlines() if line.startswith("evidence: ")]
    evidence = IndexEvidence.from_json(path.read_text())
    assert evidence.index == 12 and evidence.pwid == f.PWID
    how = verify_index_evidence(evidence, parse_vkey(info["log_vkey"]))
    assert "leaves out entry 12" in how
    # `pel evidence verify` checks it with the trust list alone.
    trust = tmp_path / "trust.json"
    trust.write_text(SignedTrustList(trust_of(url, info)).to_json())
    code, out, err = run("evidence", "verify", str(path), "--trust", str(trust))
    assert code == 0, err
    assert out.startswith("wrong index proven: TH-SSO's log sso.go.th/pel") and "entry 12" in out
    forged = json.loads(path.read_text())
    forged["index"] = 11
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    code, _, err = run("evidence", "verify", str(tmp_path / "forged.json"), "--trust", str(trust))
    assert code == 1 and "[bad_evidence]" in err
    # The evidence stands on its own: a changed part of it is refused.
    other = IndexEvidence(**{**evidence.__dict__, "index": 11})
    with pytest.raises(EvidenceError):
        verify_index_evidence(other, parse_vkey(info["log_vkey"]))
    with pytest.raises(EvidenceError):
        verify_index_evidence(evidence, parse_vkey(info["witness_vkey"]))


def trust_of(url: str, info: dict) -> TrustList:
    """A federation of the served TH-SSO node and a MY-PERKESO with fresh keys."""
    me = NoteSigner("perkeso.gov.my/pel", SigningKey.generate())
    th = Member(
        agency="TH-SSO", country="TH", name="TH-SSO", role="both", origin="sso.go.th/pel",
        url=url, log_key=info["log_vkey"], issuer_key=info["issuer_key"],
        witness_key=info["witness_vkey"],
    )  # fmt: skip
    my = Member(
        agency="MY-PERKESO", country="MY", name="MY-PERKESO", role="both", origin=me.name,
        url="http://127.0.0.1:9", log_key=me.vkey,
        issuer_key=SigningKey.generate().public_key.to_base64(),
        witness_key=CosignatureSigner("perkeso.gov.my/witness", SigningKey.generate()).vkey,
    )  # fmt: skip
    # Ed25519 witness keys only (this test is about the index): either key counts.
    return TrustList(
        federation="t", version=1, members=(th, my), witness_quorum=1, threshold=2,
        cosigner_policy="either",
    )  # fmt: skip


def follower_of(url: str, info: dict, engine: Engine, node: Node) -> MirrorFollower:
    """A mirror at MY-PERKESO following the served TH-SSO node (and nothing else). The
    served node has no trust list to check a member's signed request with, so the
    mirror reads its entries with a token that node issued."""
    tl = trust_of(url, info)
    token = create_token(node.tokens, node.agency, "mirror", role="reader")

    def sign(audience: str, _method: str, _target: str, _body: bytes) -> str:
        assert audience == node.agency  # each request is made for the node it goes to
        return f"Bearer {token}"

    return MirrorFollower(
        MirrorStore(engine), lambda: tl, "MY-PERKESO", gossip_interval=None, sign=sign
    )


def follow(follower: MirrorFollower, size: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        follower.follow_once()
        state = follower.store.state("sso.go.th/pel")
        if state is not None and state.size == size:
            return
        assert time.monotonic() < deadline, follower.status
        time.sleep(0.05)


@pytest.fixture
def mirror_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


def test_a_mirror_catches_an_index_that_omits_a_record(
    served: tuple[str, Node, dict], omitted: set[int], mirror_engine: Engine
) -> None:
    url, node, info = served
    follower = follower_of(url, info, mirror_engine, node)
    try:
        records = [f.contribution(pwid=f.PWID if i % 4 == 1 else f.PWID2) for i in range(16)]
        node.submit(records[:8])
        integrated(node, 8)
        follow(follower, 8)
        assert follower.status["sso.go.th/pel"].index == "matches"
        assert index_evidence(mirror_engine) == []
        omitted.add(9)  # a record of PWID
        node.submit(records[8:])
        integrated(node, 16)
        follow(follower, 16)
    finally:
        follower.stop()
    assert follower.status["sso.go.th/pel"].index.startswith("wrong at size 16")
    [(proven, origin, data)] = index_evidence(mirror_engine)
    assert proven and origin == "sso.go.th/pel"
    evidence = IndexEvidence.from_json(data)
    how = verify_index_evidence(evidence, parse_vkey(info["log_vkey"]))
    assert evidence.index == 9 and "leaves out entry 9" in how
