"""Three member nodes over real HTTP: each witnesses the others, and a log's checkpoint
ends up carrying the witness quorum's cosignatures."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pel.crypto.note import parse_note
from pel.ledger.tlog.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from tests import factories as f
from tests.e2e.cluster import Cluster
from tests.e2e.cluster import federation as start_federation
from tests.node.test_cli import run

Federation = Cluster


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Cluster]:
    """Three members, each serving on loopback, each witnessing the other two (quorum 2)."""
    with start_federation(tmp_path, 3, quorum=2) as cluster:
        yield cluster


def wait_cosigned(fed: Federation, size: int, cosigners: int) -> bytes:
    th = fed.nodes[0]
    witnesses = [
        v for n in fed.nodes[1:] for v in (n.witness.signer.verifier, n.witness.pq_signer.verifier)
    ]
    deadline = time.monotonic() + 30
    while True:
        r = httpx.get(fed.urls[0] + "/checkpoint")
        note = r.content
        if r.status_code == 200:  # 404 until the first checkpoint is published
            cp = open_checkpoint(note, th.log_verifier, witnesses)
            # Each witness cosigns with its Ed25519 and its ML-DSA-44 key.
            if cp.checkpoint.size == size and len(cp.cosigners) == 2 * cosigners:
                return note
        assert time.monotonic() < deadline, f"not cosigned in time: {note!r}"
        time.sleep(0.1)


def test_checkpoints_get_the_quorum_of_cosignatures(federation: Federation) -> None:
    fed = federation
    th = fed.nodes[0]
    assert len(th.submit([f.contribution(body={"currency": "THB"}) for _ in range(50)])) == 50
    note = wait_cosigned(fed, 50, 2)
    sigs = parse_note(note).signatures
    assert len(sigs) == 5
    # The log's Ed25519 line (64 bytes), two cosignature/v1 lines (8 + 64) and two
    # ML-DSA-44 lines (8 + 2420).
    assert sorted(len(s.payload) for s in sigs) == [64, 72, 72, 2428, 2428]
    info = httpx.get(fed.urls[0] + "/v1/node").json()["witnessing"]
    assert info == {
        "size": 50,
        "cosigners": ["MY-PERKESO", "SG-CPF"],
        "quorum": 2,
        "witnessed": True,
    }
    for w in fed.nodes[1:]:  # each witness recorded the checkpoint it cosigned
        assert w.witness.latest("sso.go.th/pel")[0] == 50  # type: ignore[index]
    # The log grows; the witnesses cosign the new checkpoint from their recorded size.
    th.submit([f.contribution(body={"currency": "THB"}) for _ in range(30)])
    wait_cosigned(fed, 80, 2)


def test_a_fork_shown_to_two_witnesses(federation: Federation, tmp_path: Path) -> None:
    fed = federation
    th = fed.nodes[0]
    th.submit([f.contribution(body={"currency": "THB"}) for _ in range(20)])
    wait_cosigned(fed, 20, 2)
    # The same origin and key, another history of the same size, shown to both witnesses.
    forked = sign_checkpoint(Checkpoint("sso.go.th/pel", 20, bytes(range(32))), th.log_signer)
    for url in fed.urls[1:]:
        r = httpx.post(url + "/add-checkpoint", content=b"old 20\n\n" + forked)
        assert r.status_code == 409 and r.text == "20\n"
    for w, d in zip(fed.nodes[1:], fed.dirs[1:], strict=True):
        assert w.witness.flagged("sso.go.th/pel")
        code, out, err = run("evidence", "export", str(d), str(tmp_path / d.name))
        assert code == 0, err
        [file] = sorted((tmp_path / d.name).glob("*-fork-*.json"))
        code, out, err = run("evidence", "verify", str(file), "--trust", str(fed.trust_file))
        assert code == 0, err
        assert "fork proven: TH-SSO's log sso.go.th/pel: two different roots" in out
        # Tampered evidence proves nothing.
        bad = json.loads(file.read_text())
        bad["second"] = bad["second"].replace("sso.go.th/pel\n20\n", "sso.go.th/pel\n21\n", 1)
        assert bad["second"] != json.loads(file.read_text())["second"]
        bad = json.dumps(bad)
        (tmp_path / "bad.json").write_text(bad)
        code, _, err = run(
            "evidence", "verify", str(tmp_path / "bad.json"), "--trust", str(fed.trust_file)
        )
        assert code == 1 and "Traceback" not in err
    # Cosigning stops: the honest log goes on, but no witness signs it any more.
    th.submit([f.contribution(body={"currency": "THB"}) for _ in range(5)])
    deadline = time.monotonic() + 20
    while th.witnessed()["size"] != 25:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.5)  # several collection rounds
    assert th.witnessed() == {"size": 25, "cosigners": [], "quorum": 2, "witnessed": False}
    errors = {st.agency: st.last_error for st in th.cosigning.status.values()}  # type: ignore[union-attr]
    assert all("equivocated" in e for e in errors.values()), errors
