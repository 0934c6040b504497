"""Nobody has to trust a log's index: ``pel audit`` rebuilds it from the served entries
and compares it with the root each checkpoint commits to. A node whose index leaves out
one of a worker's records is caught, with evidence that verifies offline with the
log's key alone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pel.crypto.note import parse_vkey
from pel.ledger.errors import EvidenceError
from pel.ledger.federation.index_evidence import IndexEvidence, verify_index_evidence
from pel.ledger.tlog.log import Log
from pel.node.agency_node import Node
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

    def lying_entries(self: Log, conn: Any, start: int, end: int) -> list[tuple[int, str]]:
        return [
            (i, p if i not in drop else "TH-ZZZZZZZZZZZZZZZZ")
            for i, p in index_entries(self, conn, start, end)
        ]

    def lying_indexes(self: Log, conn: Any, pwid: str, size: int) -> list[int]:
        return [i for i in pwid_indexes(self, conn, pwid, size) if i not in drop]

    monkeypatch.setattr(Log, "_index_entries", lying_entries)
    monkeypatch.setattr(Log, "_pwid_indexes", lying_indexes)
    yield drop


def audit(url: str, state: Path, info: dict) -> tuple[int, str, str]:
    keys = ("--vkey", info["log_vkey"], "--issuer-key", info["issuer_key"])
    return run("audit", url, "--state", str(state), *keys)


def test_an_honest_index_passes_and_is_checked_again_on_resume(
    served: tuple[str, Node, dict], tmp_path: Path
) -> None:
    url, node, info = served
    node.submit([f.contribution(pwid=f.PWID if i % 2 else f.PWID2) for i in range(30)])
    integrated(node, 30)
    code, _, err = audit(url, tmp_path / "a", info)
    assert code == 0, err
    node.submit([f.contribution(pwid=f.PWID) for _ in range(5)])
    integrated(node, 35)
    code, _, err = run(
        "audit", url, "--state", str(tmp_path / "a"), "--vkey", info["log_vkey"],
        "--issuer-key", info["issuer_key"], "--report", str(tmp_path / "r.json"),
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
    code, _, err = audit(url, tmp_path / "a", info)
    assert code == 0, err  # honest so far
    omitted.add(12)  # a record of PWID: index 12 = 12 % 3 == 0
    node.submit(records[10:])
    integrated(node, 20)
    code, _, err = audit(url, tmp_path / "a", info)
    assert code == 1 and "[wrong_index]" in err and "Traceback" not in err, err
    [path] = [Path(line.split()[1]) for line in err.splitlines() if line.startswith("evidence: ")]
    evidence = IndexEvidence.from_json(path.read_text())
    assert evidence.index == 12 and evidence.pwid == f.PWID
    how = verify_index_evidence(evidence, parse_vkey(info["log_vkey"]))
    assert "leaves out entry 12" in how
    # The evidence stands on its own: a changed part of it is refused.
    other = IndexEvidence(**{**evidence.__dict__, "index": 11})
    with pytest.raises(EvidenceError):
        verify_index_evidence(other, parse_vkey(info["log_vkey"]))
    with pytest.raises(EvidenceError):
        verify_index_evidence(evidence, parse_vkey(info["witness_vkey"]))
