"""``pel audit`` over real HTTP against the three-member federation: an honest log passes
and resumes, and a member's mirror with a tampered entry in its database, a rewritten
history and a missing witness quorum each fail with evidence."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from pel.api.app import create_app
from pel.crypto.note import parse_note
from pel.crypto.request import sign_request
from pel.ledger.federation.mirror_store import ENTRIES as MIRROR_ENTRIES
from pel.ledger.federation.trust_list import SignedTrustList, TrustList
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.tlog.log import COSIGNATURES
from pel.node.access.tokens import create_token
from pel.node.agency_node import Node
from pel.node.errors import AuditFailed
from pel.node.peers.remote_audit import audit_log, write_atomic
from pel.node.workers.bundles import BUNDLE_PATH
from tests import factories as f
from tests.conftest import serve
from tests.e2e import test_federation as tf
from tests.e2e.cluster import wait_for
from tests.node import test_cli
from tests.node.test_cli import run

federation = tf.federation  # the three members on loopback, quorum 2
node_dir, served = test_cli.node_dir, test_cli.served  # one node on loopback, no trust list
Federation = tf.Federation
ORIGIN = "sso.go.th/pel"


def fill(fed: Federation, count: int) -> bytes:
    """``count`` more THB contributions in TH-SSO's log, once cosigned by both witnesses."""
    th = fed.nodes[0]
    size = th.log.state()[1] + count
    th.submit([f.contribution(body={"currency": "THB"}) for _ in range(count)])
    return tf.wait_cosigned(fed, size, 2)


# Auditor tokens by the URL of the node that issued each (the node serving a log's
# entries to an auditor only with one).
TOKENS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    TOKENS.clear()  # a port of an earlier test may serve another node now
    yield
    TOKENS.clear()


def auditor_token(node: Node, url: str) -> str:
    if url not in TOKENS:
        TOKENS[url] = create_token(node.tokens, node.agency, "audit office", role="auditor")
    return TOKENS[url]


def token_for(fed: Federation, url: str) -> str:
    """The auditor token of the node serving ``url`` (a node, or a mirror on it)."""
    node_url = "/".join(url.split("/")[:3])
    if node_url in TOKENS:
        return TOKENS[node_url]
    return auditor_token(fed.nodes[fed.urls.index(node_url)], node_url)


def audit(fed: Federation, url: str, state: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        "audit",
        url,
        "--state",
        str(state),
        "--trust",
        str(fed.trust_file),
        "--token",
        token_for(fed, url),
        *extra,
    )


def trust_list(fed: Federation) -> TrustList:
    return SignedTrustList.from_json(fed.trust_file.read_text()).trust_list


def evidence_files(err: str) -> list[Path]:
    return [Path(line.split()[1]) for line in err.splitlines() if line.startswith("evidence: ")]


class RecordingTransport(httpx.HTTPTransport):
    """Real HTTP, remembering every path asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


@contextlib.contextmanager
def twin(fed: Federation, tmp_path: Path, records: int, name: str = "twin") -> Iterator[str]:
    """A node with TH-SSO's keys and origin but its own history of ``records`` entries,
    and no trust list (so no witness cosigns it)."""
    d = tmp_path / name
    shutil.copytree(fed.dirs[0] / "keys", d / "keys")
    shutil.copy(fed.dirs[0] / "node.json", d / "node.json")
    node = Node.open(d, database_url=f"sqlite:///{d / 'pel.db'}", federation_genesis=None)
    node.submit(
        [f.contribution(body={"currency": "THB", "period": "2026-09"}) for _ in range(records)]
    )
    with serve(create_app(node)) as url:
        auditor_token(node, url)
        deadline = time.monotonic() + 20
        while node.log.state()[1] != records:
            assert time.monotonic() < deadline, "the twin did not integrate its records"
            time.sleep(0.05)
        yield url


@pytest.mark.slow
def test_an_honest_log_passes_and_the_next_audit_resumes(
    federation: Federation, tmp_path: Path
) -> None:
    fed, state = federation, tmp_path / "audit"
    fill(fed, 300)
    for url in fed.urls[1:]:  # the other members' mirrors hold the log too
        wait_for(
            f"{url} mirroring {ORIGIN}",
            lambda url=url: httpx.get(url + "/v1/node").json()["mirrors"][ORIGIN]["size"] == 300,
        )
    code, out, err = audit(fed, fed.urls[0], state, "--report", str(tmp_path / "r1.json"))
    assert code == 0, err
    assert "ok: sso.go.th/pel audited from size 0 to 300" in out
    report = json.loads((tmp_path / "r1.json").read_text())
    assert report["ok"] and report["failures"] == []
    assert report["tree_size"]["from"] == 0 and report["tree_size"]["to"] == 300
    assert report["entries_rehashed"] == 300 and report["signatures_verified"] == 300
    assert report["bundles_fetched"] == 2 and report["tiles_compared"] >= 2
    assert sorted(report["cosignatures"]["verified"]) == ["MY-PERKESO", "SG-CPF"]
    assert report["cosignatures"]["ok"] and report["cosignatures"]["quorum"] == 2
    # Each member's mirror of the log is compared with it.
    assert [m["result"] for m in report["mirrors"]] == ["consistent", "consistent"]
    assert [m["how"] for m in report["mirrors"]] == ["equal roots", "equal roots"]
    assert report["mirrors"][0]["url"] == f"{fed.urls[1]}/mirror/{ORIGIN}"
    saved = json.loads((state / "state.json").read_text())
    assert saved["checkpoint"].startswith("sso.go.th/pel\n300\n") and saved["issuer"] == "TH-SSO"
    edge = {level: len(base64.b64decode(h)) // 32 for level, h in saved["edge"].items()}
    assert edge == {"0": 44, "1": 1}  # the right edge of 300 leaves: 256 + 44

    fill(fed, 300)
    transport = RecordingTransport()
    second = audit_log(
        fed.urls[0], state, trust_list(fed), transport=transport, token=token_for(fed, fed.urls[0])
    )
    bundles = [p for p in transport.paths if p.startswith("/tile/entries/")]
    # Only what is new: the bundle the first audit ended in (now full) and the next one.
    assert bundles == ["/tile/entries/001", "/tile/entries/002.p/88"], bundles
    assert second.resumed and (second.size_from, second.size_to) == (300, 600)
    assert second.tree.entries == 300 and second.tree.signatures == 300
    [last] = [c for c in second.checkpoints if c["against"]["source"] == "the last audit"]
    assert last["against"]["size"] == 300 and last["result"] == "consistent"
    assert last["how"].startswith("prefix proof")
    # The second audit also re-checked the checkpoint seen in the first one (kept once,
    # under the last source that served it: a mirror).
    seen = [c for c in second.checkpoints if c["against"]["source"] != "the last audit"]
    assert {c["against"]["source"] for c in seen} <= {
        fed.urls[0],
        *(f"{u}/mirror/{ORIGIN}" for u in fed.urls[1:]),
    }
    assert seen and all(c["result"] == "consistent" for c in seen)
    assert len(list(state.glob("report-*.json"))) == 2


@pytest.mark.slow
def test_a_tampered_entry_in_a_mirror_fails_with_evidence(
    federation: Federation, tmp_path: Path
) -> None:
    fed = federation
    fill(fed, 300)
    th, my = fed.nodes[0], fed.nodes[1]
    # MY-PERKESO's node mirrors TH-SSO's log; wait for its copy with the quorum on it.
    wait_for(
        "MY's copy of the log, cosigned",
        lambda: (
            (st := my.mirrors.state(ORIGIN)) is not None
            and st.size == 300
            and len(parse_note(my.mirrors.checkpoint(ORIGIN)).signatures)
            == 5  # the log, and two witnesses with two keys each
        ),
    )
    # One byte of entry 7 in that node's database: its served copy is now wrong.
    where = (MIRROR_ENTRIES.c.origin == ORIGIN, MIRROR_ENTRIES.c.idx == 7)
    with my.engine.begin() as conn:
        original = bytes(conn.execute(select(MIRROR_ENTRIES.c.data).where(*where)).scalar_one())
        tampered = original.replace(b'"2450.00"', b'"2451.00"', 1)
        assert tampered != original and len(tampered) == len(original)
        conn.execute(update(MIRROR_ENTRIES).where(*where).values(data=tampered))
    base = f"{fed.urls[1]}/mirror/{ORIGIN}"
    code, _, err = audit(fed, base, tmp_path / "audit", "--report", str(tmp_path / "r"))
    # The mirror's checkpoint is the log's own, so only the entries give it away.
    code2, out2, err2 = audit(fed, fed.urls[0], tmp_path / "a2", "--mirror", base)
    assert code == 1 and "Traceback" not in err
    assert "error: served tile 0/0 does not match" in err and "[hash_mismatch]" in err
    [file] = evidence_files(err)
    ev = json.loads(file.read_text())
    assert ev["code"] == "hash_mismatch" and ev["source"] == base
    assert ev["index"] == 7 and ev["tile"] == "0/0" and ev["position"] == 7
    assert ev["calculated"] == base64.b64encode(hash_leaf(tampered)).decode()
    assert ev["served"] == base64.b64encode(hash_leaf(original)).decode()
    assert ev["checkpoint"].startswith("sso.go.th/pel\n300\n")
    report = json.loads((tmp_path / "r").read_text())
    assert not report["ok"] and report["failures"][0]["file"] == str(file)
    assert not (tmp_path / "audit" / "state.json").exists()  # a failed tree is not resumed from
    assert th.log.state()[1] == 300
    assert code2 == 0, err2
    assert json.loads(Path(out2.split("report: ")[1].strip()).read_text())["mirrors"][0] == {
        "url": base,
        "size": 300,
        "how": "equal roots",
        "result": "consistent",
    }
    # Nor does that node pass the damaged record on in a worker's bundle.
    path = BUNDLE_PATH.format(pwid=f.PWID)
    now, audience = int(time.time()), fed.nodes[1].agency
    auth = sign_request(th.issuer_key, "GET", path, now, audience=audience, agency="TH-SSO")
    r = httpx.get(fed.urls[1] + path, headers={"Authorization": auth}, timeout=10)
    assert r.status_code == 500 and r.json()["error"]["code"] == "integrity_failure"
    assert "stored entry 7 does not match" in r.json()["error"]["message"]


@pytest.mark.slow
def test_a_rewritten_history_is_a_proven_fork(federation: Federation, tmp_path: Path) -> None:
    fed, state = federation, tmp_path / "audit"
    fill(fed, 40)
    code, _, err = audit(fed, fed.urls[0], state)
    assert code == 0, err
    before = (state / "state.json").read_text()
    with twin(fed, tmp_path, 70) as other:
        # The same origin and key later serve another history: the resumed audit says so.
        code, _, err = audit(fed, other, state)
        assert code == 1 and "Traceback" not in err
        assert "[fork]" in err and "rewrote the history audited at size 40" in err
        [file] = evidence_files(err)
        code, out, err2 = run("evidence", "verify", str(file), "--trust", str(fed.trust_file))
        assert code == 0, err2
        assert "fork proven: TH-SSO's log sso.go.th/pel: the tree of size 70" in out
        assert (state / "state.json").read_text() == before  # the audited state stays
        # Comparing the honest log with the other history as its mirror: inconsistent.
        code, _, err = audit(fed, fed.urls[0], tmp_path / "a2", "--mirror", other)
        assert code == 1 and "[mirror_fork]" in err
        [file] = evidence_files(err)
        code, _, err2 = run("evidence", "verify", str(file), "--trust", str(fed.trust_file))
        assert code == 0, err2
    with twin(fed, tmp_path, 25, "short") as short:
        # A log that serves fewer entries than were audited is refused too.
        code, _, err = audit(fed, short, state)
        assert code == 1 and "[log_shrank]" in err and "25 entries; 40 were audited" in err
        assert (state / "state.json").read_text() == before


@pytest.mark.slow
def test_a_missing_cosignature_quorum_fails(federation: Federation, tmp_path: Path) -> None:
    fed = federation
    with twin(fed, tmp_path, 35) as lone:
        code, _, err = audit(fed, lone, tmp_path / "audit")
        with pytest.raises(AuditFailed) as failed:
            audit_log(lone, tmp_path / "again", trust_list(fed), token=TOKENS[lone])
    assert code == 1 and "Traceback" not in err
    assert (
        "error: 0 witness(es) cosigned the checkpoint of size 35 under the 'both' policy; "
        "the quorum is 2" in err
    )
    assert "[no_quorum]" in err
    [file] = evidence_files(err)
    ev = json.loads(file.read_text())
    assert ev["missing"] == ["MY-PERKESO", "SG-CPF"] and ev["quorum"] == 2
    assert ev["checkpoint"].startswith("sso.go.th/pel\n35\n")
    report = failed.value.report
    assert [x.code for x in report.failures] == ["no_quorum"]
    assert report.tree.entries == 35 and report.tree.signatures == 35  # the tree itself is fine


def test_audit_with_keys_alone_checks_every_signature(
    served: tuple[str, Node, dict], tmp_path: Path
) -> None:
    url, node, info = served
    node.submit([f.contribution(body={"currency": "THB"}) for _ in range(40)])
    deadline = time.monotonic() + 20
    while node.log.state()[1] != 40:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    keys = ("--vkey", info["log_vkey"], "--issuer-key")
    # Without an auditor token: refused, and told which credential is missing.
    code, _, err = run("audit", url, "--state", str(tmp_path / "a"), *keys, info["issuer_key"])
    assert code == 1 and "[auditor_token_needed]" in err and "Traceback" not in err
    assert "give --token with an auditor token issued by that node" in err
    code, _, err = run("verify", url, "--vkey", info["log_vkey"])
    assert code == 1 and "[auditor_token_needed]" in err
    token = create_token(node.tokens, node.agency, "audit office", role="auditor")
    writer = create_token(node.tokens, node.agency, "back office", role="writer")
    code, _, err = run(
        "audit", url, "--state", str(tmp_path / "w"), *keys, info["issuer_key"], "--token", writer
    )
    assert code == 1 and "refused the token given" in err and "[auditor_token_needed]" in err
    keys = ("--token", token, *keys)
    code, out, err = run("audit", url, "--state", str(tmp_path / "a"), *keys, info["issuer_key"])
    assert code == 0, err
    assert "40 signatures verified" in out and "witness cosignatures not checked" in err
    assert json.loads((tmp_path / "a" / "state.json").read_text())["issuer"] == "TH-SSO"
    # Another issuer key: the first record's signature fails, nothing is saved.
    other = base64.b64encode(bytes(range(32))).decode()
    code, _, err = run("audit", url, "--state", str(tmp_path / "b"), *keys, other)
    assert code == 1 and "[bad_signature]" in err and "Traceback" not in err
    [file] = evidence_files(err)
    assert json.loads(file.read_text())["index"] == 0
    assert not (tmp_path / "b" / "state.json").exists()
    # Neither a trust list nor keys: refused before anything is fetched.
    code, _, err = run("audit", url, "--state", str(tmp_path / "c"), "--vkey", info["log_vkey"])
    assert code == 1 and "[bad_config]" in err and not (tmp_path / "c").exists()


def test_a_full_audit_rehashes_from_size_0_and_finds_a_change_made_after_the_last_audit(
    served: tuple[str, Node, dict], tmp_path: Path
) -> None:
    url, node, info = served
    node.submit([f.contribution(body={"currency": "THB"}) for _ in range(300)])
    deadline = time.monotonic() + 20
    while node.log.state()[1] != 300:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    token = create_token(node.tokens, node.agency, "audit office", role="auditor")
    keys = ("--token", token, "--vkey", info["log_vkey"], "--issuer-key", info["issuer_key"])
    state = str(tmp_path / "a")
    code, out, err = run("audit", url, "--state", state, *keys)
    assert code == 0, err
    assert "300 entries rehashed (from size 0)" in out
    # Changed after the audit, in an entry the audit saw, and served anyway (a node
    # started without its check): the running node's caches are not in the way.
    with node.engine.begin() as conn:
        data = conn.exec_driver_sql("SELECT data FROM entries WHERE idx = 3").scalar_one()
        changed = bytes(data).replace(b'"THB"', b'"THX"')
        conn.exec_driver_sql("UPDATE entries SET data = ? WHERE idx = 3", (changed,))
    tampered = Node.open(node.directory)
    try:
        with serve(create_app(tampered, check=False)) as url:
            # A resumed audit rehashes nothing it saw before (in full tiles), and says so.
            r = str(tmp_path / "r")
            code, out, err = run("audit", url, "--state", state, *keys, "--report", r)
            assert code == 0, err
            assert "0 entries rehashed (from size 300)" in out
            assert json.loads((tmp_path / "r").read_text())["rehashed"] == {"from": 300, "to": 300}
            # --full rehashes from size 0 with the same state, and finds the change.
            code, out, err = run("audit", url, "--state", state, *keys, "--full", "--report", r)
    finally:
        tampered.stop()
    assert code == 1 and "[hash_mismatch]" in err and "Traceback" not in err, err
    report = json.loads((tmp_path / "r").read_text())
    assert report["full"] and report["rehashed"] == {"from": 0, "to": 300}
    assert report["failures"][0]["evidence"]["index"] == 3


def test_state_is_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, "old\n")

    def crash(*_: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_atomic(path, "new\n")
    assert path.read_text() == "old\n"


def _flip_stored_line(node: Node, long: bool) -> None:
    """Flip one bit of a stored cosignature line: an ML-DSA-44 one (``long``) or an
    Ed25519 one, and serve it as a node that did not check its rows would (this node
    leaves a line that does not verify out of what it serves)."""
    table = COSIGNATURES
    node.log.cosignatures.keys = None
    with node.engine.begin() as conn:
        rows = conn.execute(select(table.c.size, table.c.witness, table.c.line)).all()
        size, witness, line = next(r for r in rows if (len(r[2]) > 3000) is long)
        text = bytes(line).decode()
        name, data = text.rstrip("\n").rsplit(" ", 1)
        raw = bytearray(base64.b64decode(data))
        raw[40] ^= 0x01  # inside the signature, past the key ID and timestamp
        bad = f"{name} {base64.b64encode(bytes(raw)).decode()}\n".encode()
        conn.execute(
            update(table).where(table.c.size == size, table.c.witness == witness).values(line=bad)
        )


@pytest.mark.parametrize("long", [True, False], ids=["ml-dsa-44", "ed25519"])
def test_the_audit_checks_both_cosignatures_and_refuses_a_flipped_bit(
    federation: Federation, tmp_path: Path, long: bool
) -> None:
    fed = federation
    fill(fed, 12)
    report = audit_log(
        fed.urls[0], tmp_path / "ok", trust_list(fed), token=token_for(fed, fed.urls[0])
    )
    assert report.cosignatures is not None and report.cosignatures["ok"]
    assert report.cosignatures["policy"] == "both"
    assert report.cosignatures["kinds"] == {
        "MY-PERKESO": ["ed25519", "ml-dsa-44"],
        "SG-CPF": ["ed25519", "ml-dsa-44"],
    }
    _flip_stored_line(fed.nodes[0], long)
    code, _, err = audit(fed, fed.urls[0], tmp_path / "bad")
    assert code == 1 and "Traceback" not in err
    assert "[bad_cosignature]" in err and "does not verify" in err
