"""Four members over real HTTP mirroring each other's logs: records appear, verified, in
every mirror; a stopped log stays readable from its mirrors; a forked log is flagged."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pel.ledger.federation.evidence import verify_fork
from pel.ledger.merkle.proof import consistency_proof, verify_consistency
from pel.ledger.merkle.tiles import TileHashReader
from pel.ledger.tlog.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from pel.node.access.tokens import create_token
from pel.node.agency_node import Node
from pel.node.peers.client import LogClient, ServedTiles
from pel.node.peers.remote_verify import verify_log
from tests import factories as f
from tests.e2e.cluster import Cluster, federation, wait_for
from tests.node.test_cli import run

pytestmark = pytest.mark.slow

TH = "sso.go.th/pel"
MY = "perkeso.gov.my/pel"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with federation(
        tmp_path, 4, quorum=2, mirror_interval=0.2, mirror_bundles=1, mirror_timeout=2.0
    ) as c:
        yield c


def info(url: str) -> dict[str, Any]:
    return httpx.get(url + "/v1/node", timeout=10).json()  # type: ignore[no-any-return]


def witnesses(c: Cluster, origin: str) -> list[Any]:
    return [n.witness.signer.verifier for n in c.nodes if n.settings.origin != origin]


def cosigned(c: Cluster, url: str, origin: str, size: int, k: int) -> bytes | None:
    """The checkpoint at ``url`` if it is ``origin``'s at ``size`` with ≥ k valid cosignatures."""
    r = httpx.get(url + "/checkpoint", timeout=10)
    if r.status_code != 200:
        return None
    key = next(n.log_verifier for n in c.nodes if n.settings.origin == origin)
    cp = open_checkpoint(r.content, key, witnesses(c, origin))
    return r.content if cp.checkpoint.size == size and len(cp.cosigners) >= k else None


def mirrored(url: str, origin: str, size: int) -> bool:
    m = info(url)["mirrors"][origin]
    return m["size"] == size and m["behind"] == 0


def auditor(node: Node) -> str:
    """An auditor token of ``node`` (its entry bundles, its mirrors' too, need one)."""
    return create_token(node.tokens, node.agency, "audit office", role="auditor")


def bearer(node: Node) -> dict[str, str]:
    return {"Authorization": f"Bearer {auditor(node)}"}


def consistent_in_mirror(mirror: str, old: bytes, new: bytes, c: Cluster, origin: str) -> None:
    """Check, from the mirror's tiles alone, that ``new`` extends ``old`` (both signed)."""
    key = next(n.log_verifier for n in c.nodes if n.settings.origin == origin)
    a = open_checkpoint(old, key).checkpoint
    b = open_checkpoint(new, key).checkpoint
    with LogClient(mirror) as client:
        reader = TileHashReader(ServedTiles(client, b.size))
        verify_consistency(
            a.size, b.size, a.root, b.root, consistency_proof(a.size, b.size, reader)
        )


def test_logs_are_mirrored_verified_everywhere_and_outlive_their_node(cluster: Cluster) -> None:
    c = cluster
    th, my = c.nodes[0], c.nodes[1]
    th.submit([f.contribution(body={"currency": "THB"}) for _ in range(100)])
    first = wait_for("TH at 100, cosigned", lambda: cosigned(c, c.urls[0], TH, 100, 2))
    th.submit([f.contribution(body={"currency": "THB"}) for _ in range(200)])
    my.submit([f.contribution(pwid=f.PWID2) for _ in range(20)])
    witnessed = wait_for("TH at 300, cosigned", lambda: cosigned(c, c.urls[0], TH, 300, 2))
    for url in c.urls[1:]:
        wait_for(f"{url} mirroring TH", lambda url=url: mirrored(url, TH, 300))
    for url in (c.urls[0], *c.urls[2:]):
        wait_for(f"{url} mirroring MY", lambda url=url: mirrored(url, MY, 20))
    th_entries = th.log.entries(0, 300)
    for i, url in enumerate(c.urls[1:], 1):
        status = info(url)
        m = status["mirrors"][TH]
        assert m["agency"] == "TH-SSO" and m["error"] is None and not m["flagged"]
        assert m["verified_at"].endswith("Z") and status["flagged"] == []
        assert set(status["mirrors"]) == {n.settings.origin for n in c.nodes} - {
            c.nodes[i].settings.origin
        }
        # The copy is the origin's log: same entries, tiles and root, checked from outside.
        report = verify_log(
            LogClient(f"{url}/mirror/{TH}", token=auditor(c.nodes[i])),
            th.log_verifier,
            issuer_key=th.issuer_public_key,
            samples=0,
        )
        assert (report.tree_size, report.root) == (300, th.log.root(300))
        assert c.nodes[i].mirrors.entries(TH, 0, 300) == th_entries
        # The mirror serves the cosigned checkpoint once it has seen the cosignatures.
        wait_for("cosigned mirror", lambda url=url: cosigned(c, f"{url}/mirror/{TH}", TH, 300, 2))
        assert [o for o, _, _ in c.nodes[i].mirrors.records_of(f.PWID2)] == (
            [MY] * 20 if i != 1 else []
        )
    code, out, err = run("mirror", "status", str(c.dirs[3]), "--json")
    assert code == 0, err
    assert json.loads(out)["mirrors"][TH]["size"] == 300
    code, out, err = run("mirror", "status", str(c.dirs[3]))
    assert code == 0 and "300/300" in out and "TH-SSO" in out, out
    # The tlog-mirror prefix (hex SHA-256 of the origin) names the same copy.
    hexed = hashlib.sha256(TH.encode()).hexdigest()
    path = f"/mirror/{hexed}/tile/entries/000.p/44"
    same = httpx.get(c.urls[2] + path, headers=bearer(c.nodes[2])).content
    own = httpx.get(f"{c.urls[0]}/tile/entries/000.p/44", headers=bearer(c.nodes[0]))
    assert same == own.content
    # Anyone else: nothing (the mirror's entry bundles carry records too).
    assert httpx.get(c.urls[2] + path).status_code == 401

    # TH stops: its mirrors still serve it, and prove the log grew consistently.
    c.stop(0)
    for url in c.urls[1:]:
        served = wait_for(
            "mirror checkpoint", lambda url=url: cosigned(c, f"{url}/mirror/{TH}", TH, 300, 2)
        )
        assert served.split(b"\n\n")[0] == witnessed.split(b"\n\n")[0]
        tile = httpx.get(f"{url}/mirror/{TH}/tile/0/000")
        assert tile.status_code == 200 and "immutable" in tile.headers["cache-control"]
        assert len(tile.content) == 256 * 32
        bundle = httpx.get(
            f"{url}/mirror/{TH}/tile/entries/001.p/44", headers=bearer(c.nodes[c.urls.index(url)])
        )
        assert bundle.status_code == 200
        consistent_in_mirror(f"{url}/mirror/{TH}", first, served, c, TH)
    too_far = httpx.get(f"{c.urls[1]}/mirror/{TH}/tile/entries/001", headers=bearer(c.nodes[1]))
    assert too_far.status_code == 404
    # A log that is down only delays its own mirror.
    wait_for("TH's error", lambda: info(c.urls[1])["mirrors"][TH]["error"])
    c.nodes[2].submit([f.contribution(body={"currency": "SGD"}) for _ in range(7)])
    wait_for("SG mirrored while TH is down", lambda: mirrored(c.urls[1], "cpf.gov.sg/pel", 7))

    # TH comes back and goes on appending; the mirrors catch up consistently.
    th = c.start(0)
    th.submit([f.contribution(body={"currency": "THB"}) for _ in range(50)])
    later = wait_for("TH at 350", lambda: cosigned(c, c.urls[0], TH, 350, 2))
    for url in c.urls[1:]:
        wait_for(f"{url} mirroring TH again", lambda url=url: mirrored(url, TH, 350))
        assert info(url)["mirrors"][TH]["error"] is None
        consistent_in_mirror(f"{url}/mirror/{TH}", witnessed, later, c, TH)
    assert [n.witness.flagged(TH) for n in c.nodes] == [False] * 4


def test_a_forked_log_is_flagged_by_mirrors_and_gossip(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    th = c.nodes[0]
    th.submit([f.contribution(body={"currency": "THB"}) for _ in range(20)])
    wait_for("TH at 20, cosigned", lambda: cosigned(c, c.urls[0], TH, 20, 2))
    for url in c.urls[1:]:
        wait_for(f"{url} mirroring TH", lambda url=url: mirrored(url, TH, 20))
    # Gossip: a checkpoint of the same size, another root, signed with TH's key.
    forked = sign_checkpoint(Checkpoint(TH, 20, bytes(range(32))), th.log_signer)
    honest = httpx.get(c.urls[0] + "/checkpoint").text
    r = httpx.post(c.urls[1] + "/v1/gossip", json={"checkpoints": [honest, forked.decode()]})
    first, second = (x["result"] for x in r.json()["results"])
    # "cosigned": the honest note carried a cosignature the copy did not have yet.
    assert first in ("consistent", "cosigned") and second == "fork"
    assert info(c.urls[1])["flagged"] == [TH]
    assert info(c.urls[1])["mirrors"][TH]["flagged"] is True
    # A twin: the same origin and keys, another history, served where TH was.
    c.stop(0)
    twin_dir = tmp_path / "twin"
    shutil.copytree(c.dirs[0], twin_dir, ignore=shutil.ignore_patterns("pel.db*"))
    twin = c.start(0, twin_dir, database_url=f"sqlite:///{twin_dir / 'pel.db'}")
    twin.submit([f.contribution(body={"currency": "THB", "period": "2026-09"}) for _ in range(25)])
    for url in c.urls[2:]:  # these two find the fork by following the twin
        wait_for(f"{url} flags TH", lambda url=url: info(url)["flagged"] == [TH])
    for i in range(1, 4):
        d = c.dirs[i]
        code, out, err = run("evidence", "export", str(d), str(tmp_path / d.name))
        assert code == 0, err
        files = sorted((tmp_path / d.name).glob("*-fork-*.json"))
        assert files, out
        code, out, err = run("evidence", "verify", str(files[0]), "--trust", str(c.trust_file))
        assert code == 0, err
        assert "fork proven: TH-SSO's log sso.go.th/pel" in out
        # Nothing more of the log is mirrored.
        assert c.nodes[i].mirrors.state(TH).size == 20  # type: ignore[union-attr]
    # Cosigning stops: no witness cosigns the twin's checkpoints.
    wait_for(
        "every witness refusing",
        lambda: (
            len(twin.cosigning.status) == 3  # type: ignore[union-attr]
            and all("equivocated" in s.last_error for s in twin.cosigning.status.values())
        ),  # type: ignore[union-attr]
    )
    assert twin.witnessed()["cosigners"] == []


def test_a_witness_compares_a_checkpoint_with_its_copy_of_the_log(tmp_path: Path) -> None:
    with federation(tmp_path, 2, quorum=1, mirror_interval=0.2) as c:
        th = c.nodes[0]
        th.submit([f.contribution(body={"currency": "THB"}) for _ in range(30)])
        wait_for("MY mirroring TH", lambda: mirrored(c.urls[1], TH, 30))
        # An older checkpoint of another history: the witness alone would answer 409
        # (not the size it holds); the copy's tiles prove the fork first.
        forked = sign_checkpoint(Checkpoint(TH, 10, bytes(range(32))), th.log_signer)
        r = httpx.post(c.urls[1] + "/add-checkpoint", content=b"old 0\n\n" + forked)
        assert r.status_code == 403 and r.json()["error"]["code"] == "log_flagged"
        assert info(c.urls[1])["flagged"] == [TH]
        [(proven, evidence)] = c.nodes[1].witness.evidence()
        assert proven and "holds another root" in verify_fork(evidence, th.log_verifier)
