"""``pel keys rotate`` for the witness and the log: the new keys wait (0600) until a
trust-list version lists them, then the node uses them; the log's older checkpoints stay
valid under its retired key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pel.crypto.note import parse_note
from pel.ledger.federation.trust_list import SignedTrustList
from pel.node.agency_node import Node
from pel.node.demo.setup import setup_federation
from pel.node.serving.sequencer import Sequencer
from tests import factories as f
from tests.node.test_cli import run

AGENCIES = ["TH-SSO", "MY-PERKESO"]


def _next_version(dirs: list[Path], member: Path, out: Path) -> None:
    code, _, err = run("federation", "propose", str(dirs[0]), str(out), "--add", str(member))
    assert code == 0, err
    for d in dirs:
        assert run("federation", "sign", str(out), "--directory", str(d))[0] == 0
    for d in dirs:
        code, _, err = run("federation", "apply", str(d), str(out))
        assert code == 0, err


@pytest.mark.parametrize("role", ["witness", "log"])
def test_rotating_the_witness_or_the_log_key(tmp_path: Path, role: str) -> None:
    demo = setup_federation(tmp_path / "d", AGENCIES, ports=[1, 2], quorum=1)
    dirs = [n.directory for n in demo.nodes]
    th = Node.open(dirs[0])
    th.submit([f.contribution(body={"currency": "THB"}) for _ in range(3)])
    Sequencer(th.log).sequence_once()
    old_note = th.log.latest().note  # type: ignore[union-attr]
    old_witness, old_log = th.witness.signer.vkey, th.log_signer.vkey
    th.stop()

    member = tmp_path / "m.json"
    code, _, err = run("keys", "rotate", str(dirs[0]), "--role", role, "--out", str(member))
    assert code == 0, err
    waiting = sorted((dirs[0] / "keys").glob("*.next.pem"))
    assert [p.name for p in waiting] == (
        ["witness-mldsa.next.pem", "witness.next.pem"] if role == "witness" else ["log.next.pem"]
    )
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in waiting)
    # Until a version lists them, nothing changes.
    th = Node.open(dirs[0])
    assert (th.witness.signer.vkey, th.log_signer.vkey) == (old_witness, old_log)
    th.stop()

    _next_version(dirs, member, tmp_path / "v2.json")
    tl = SignedTrustList.from_json((tmp_path / "v2.json").read_text()).trust_list
    listed = tl.member("TH-SSO")
    assert listed is not None
    assert not list((dirs[0] / "keys").glob("*.next.pem"))
    th = Node.open(dirs[0])
    try:
        roles = {r.role for r in listed.retired_keys}
        if role == "witness":
            assert roles == {"witness", "witness_mldsa"}
            assert th.witness.signer.vkey == listed.witness_key != old_witness
            assert th.witness.pq_signer is not None
            assert th.witness.pq_signer.vkey == listed.witness_mldsa_key
        else:
            assert roles == {"log"}
            assert th.log_signer.vkey == listed.log_key != old_log
            # The checkpoint signed before the rotation still opens; the next is signed
            # with the new key.
            assert th.log.open_own(old_note).checkpoint.size == 3
            th.submit([f.contribution(body={"currency": "THB"})])
            Sequencer(th.log).sequence_once()
            latest = th.log.latest()
            assert latest is not None and latest.checkpoint.size == 4
            parsed = parse_note(latest.note)
            assert listed.log_verifier.verify(parsed.text, parsed.signatures[0].payload)
    finally:
        th.stop()
