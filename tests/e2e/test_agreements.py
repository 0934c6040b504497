"""An agreement between three members over real HTTP: signed by two of the three it is
refused by every party's node; signed by all three it is in all three logs, the same
record, and ``pel audit`` of each log checks every party's signature and its presence
in the other parties' logs. A log that lacks it fails the audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pel.crypto.record import sign_record
from pel.ledger.errors import BatchError
from pel.ledger.portability.agreements import sign_agreement
from pel.node.access.tokens import create_token
from pel.node.agency_node import Node
from pel.node.config import KEY_FILES
from pel.node.trust.secret_files import read_private_key
from tests.e2e.cluster import Cluster, federation, wait_for
from tests.node.test_cli import run

PARTIES = ["TH-SSO", "MY-PERKESO", "SG-CPF"]


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[Cluster]:
    with federation(tmp_path, 3, quorum=2, mirror_interval=0.2) as cluster:
        yield cluster


def propose(path: Path, record_id: str) -> None:
    code, _, err = run(
        "agreement", "propose", str(path), "--id", record_id,
        "--parties", ",".join(PARTIES), "--branches", "old_age,invalidity",
        "--from", "2027-01-01", "--title", "Test agreement", "--url", "https://example.org/a",
    )  # fmt: skip
    assert code == 0, err


def tokens(fed: Cluster) -> list[str]:
    return [create_token(n.tokens, n.agency, label="test") for n in fed.nodes]


def auditor(node: Node) -> str:
    """An auditor token of ``node``: it serves its log's entries to one only."""
    return create_token(node.tokens, node.agency, label="audit office", role="auditor")


def witnessed(url: str, size: int) -> bool:
    w = httpx.get(url + "/v1/node").json()["witnessing"]
    return bool(w["witnessed"]) and w["size"] == size


def test_two_of_three_signatures_are_refused_by_every_party(trio: Cluster, tmp_path: Path) -> None:
    fed = trio
    path = tmp_path / "agreement.json"
    propose(path, "agreement-2-of-3")
    record = json.loads(path.read_text())
    for i in (1, 0):  # MY-PERKESO, then TH-SSO: SG-CPF never signs
        key = read_private_key(fed.dirs[i] / KEY_FILES["issuer"])
        record = sign_agreement(record, fed.nodes[i].agency, key)
    record = sign_record(record, read_private_key(fed.dirs[0] / KEY_FILES["issuer"]))
    for node, token, url in zip(fed.nodes, tokens(fed), fed.urls, strict=True):
        with pytest.raises(BatchError) as exc:
            node.submit([record])
        assert exc.value.problems[0][1].code == "missing_party_signature"
        r = httpx.post(
            url + "/v1/records", json=[record], headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 422
        assert r.json()["error"]["records"][0]["code"] == "missing_party_signature"
        assert node.log.state() == (0, 0)
    # Unsealed (the proposer has not signed), the CLI does not even send it.
    path.write_text(json.dumps(record | {"sig": None}))
    code, _, err = run("agreement", "publish", str(path), fed.urls[1], "--token", "x")
    assert code == 1 and "Traceback" not in err


def test_signed_by_all_it_is_in_every_log_and_every_audit_verifies_it(
    trio: Cluster, tmp_path: Path
) -> None:
    fed = trio
    path = tmp_path / "agreement.json"
    propose(path, "agreement-th-my-sg")
    for d in (fed.dirs[1], fed.dirs[2], fed.dirs[0]):  # the proposer signs last
        code, out, err = run("agreement", "sign", str(path), "--node", str(d))
        assert code == 0, err
    assert "sealed" in out
    entry = None
    for url, token, node in zip(fed.urls, tokens(fed), fed.nodes, strict=True):
        code, out, err = run("agreement", "publish", str(path), url, "--token", token)
        assert code == 0, err
        index, stored = node.log.find("agreement-th-my-sg")
        assert index == 0
        entry = entry or stored
        assert stored == entry  # the same record, byte for byte, in every log
        code, out, err = run("agreement", "show", url, "--json", "--at", "2027-06-01")
        assert code == 0, err
        [shown] = json.loads(out)["agreements"]
        assert shown["record"]["issuer"] == "TH-SSO" and shown["in_force"] is True
        assert shown["parties_bound"] == PARTIES
    for url in fed.urls:
        wait_for("the checkpoint's cosignatures", lambda u=url: witnessed(u, 1))
    for i, url in enumerate(fed.urls):
        state = tmp_path / f"audit-{i}"
        code, out, err = run(
            "audit", url, "--state", str(state), "--trust", str(fed.trust_file),
            "--report", str(tmp_path / f"report-{i}.json"), "--token", auditor(fed.nodes[i]),
        )  # fmt: skip
        assert code == 0, err
        report = json.loads((tmp_path / f"report-{i}.json").read_text())
        [checked] = report["agreements"]
        assert checked["id"] == "agreement-th-my-sg" and checked["parties"] == PARTIES
        assert set(checked["present"]) == set(PARTIES)
        for party, how in checked["present"].items():
            assert how.startswith("index 0"), (party, how)
        assert report["signatures_verified"] == 1
    # Each member's mirror took the others' agreements (checked with every party's key).
    for node in fed.nodes:
        wait_for(
            "mirrors",
            lambda n=node: all(m["size"] == 1 for m in n.mirror_status()["mirrors"].values()),
        )
    # SG-CPF leaves from 2028, by a record of its own; the other two remain bound.
    sg_token = create_token(fed.nodes[2].tokens, "SG-CPF")
    code, out, err = run(
        "agreement", "withdraw", fed.urls[2], "--issuer", "TH-SSO",
        "--agreement", "agreement-th-my-sg", "--effective", "2028-01-01", "--token", sg_token,
    )  # fmt: skip
    assert code == 0, err
    for day, bound in (("2027-12-31", PARTIES), ("2028-01-01", PARTIES[:2])):
        code, out, err = run("agreement", "show", fed.urls[2], "--json", "--at", day)
        [shown] = json.loads(out)["agreements"]
        assert shown["parties_bound"] == bound and shown["in_force"] is True
    assert fed.nodes[0].log.tree_size() == 1  # nothing changed in the other logs
    code, _, err = run(
        "agreement", "withdraw", fed.urls[2], "--issuer", "TH-SSO",
        "--agreement", "no-such-agreement", "--effective", "2028-01-01", "--token", sg_token,
    )  # fmt: skip
    assert code == 1 and "[unknown_target]" in err
    # Every party's node passes its full check, signatures included: the agreement that
    # another party proposed is checked with every party's key, not refused as foreign.
    for i, directory in enumerate(fed.dirs):
        fed.stop(i)
        code, out, err = run("check", str(directory), "--signatures")
        assert code == 0, err


def test_an_agreement_missing_from_a_party_log_fails_the_audit(
    trio: Cluster, tmp_path: Path
) -> None:
    fed = trio
    path = tmp_path / "agreement.json"
    propose(path, "agreement-not-everywhere")
    for d in (fed.dirs[1], fed.dirs[2], fed.dirs[0]):
        assert run("agreement", "sign", str(path), "--node", str(d))[0] == 0
    toks = tokens(fed)
    for i in (0, 1):  # SG-CPF does not publish it
        code, _, err = run("agreement", "publish", str(path), fed.urls[i], "--token", toks[i])
        assert code == 0, err
    wait_for("the checkpoint's cosignatures", lambda: witnessed(fed.urls[0], 1))
    code, _, err = run(
        "audit", fed.urls[0], "--state", str(tmp_path / "a"), "--trust", str(fed.trust_file),
        "--token", auditor(fed.nodes[0]),
    )  # fmt: skip
    assert code == 1
    assert "[agreement_missing]" in err and "SG-CPF" in err
