"""Three member nodes over real HTTP: each witnesses the others, and a log's checkpoint
ends up carrying the witness quorum's cosignatures."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx

from api.app import create_app
from crypto.note import parse_note
from ledger.checkpoint import open_checkpoint
from ledger.federation import Member, SignedTrustList, TrustList
from node.federation import apply_version
from node.node import Node, init_node
from tests import factories as f
from tests.conftest import free_port, serve

MEMBERS = [
    ("TH-SSO", "sso.go.th/pel", "TH"),
    ("MY-PERKESO", "perkeso.gov.my/pel", "MY"),
    ("SG-CPF", "cpf.gov.sg/pel", "SG"),
]


def test_checkpoints_get_the_quorum_of_cosignatures(tmp_path: Path) -> None:
    nodes, ports = [], []
    for agency, origin, _ in MEMBERS:
        node, _token = init_node(tmp_path / agency, agency=agency, origin=origin)
        nodes.append(node)
        ports.append(free_port())
    members = tuple(
        Member(
            agency=agency,
            country=cc,
            name=agency,
            role="both",
            origin=origin,
            url=f"http://127.0.0.1:{port}",
            log_key=n.log_signer.vkey,
            issuer_key=n.issuer_public_key.to_base64(),
            witness_key=n.witness.signer.vkey,
        )
        for (agency, origin, cc), n, port in zip(MEMBERS, nodes, ports, strict=True)
    )
    signed = SignedTrustList(
        TrustList(federation="test", version=1, members=members, witness_quorum=2, threshold=3)
    )
    for n in nodes:
        signed = signed.sign(n.agency, n.issuer_key)
        n.stop()
    for agency, _, _ in MEMBERS:
        apply_version(tmp_path / agency, signed)

    opened = [Node.open(tmp_path / agency) for agency, _, _ in MEMBERS]
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: [n.stop() for n in opened])  # runs last: after the servers
        urls = [
            stack.enter_context(serve(create_app(n), port=p))
            for n, p in zip(opened, ports, strict=True)
        ]
        th = opened[0]
        assert len(th.submit([f.contribution(body={"currency": "THB"}) for _ in range(50)])) == 50
        witnesses = [n.witness.signer.verifier for n in opened[1:]]
        deadline = time.monotonic() + 30
        while True:
            note = httpx.get(urls[0] + "/checkpoint").content
            cp = open_checkpoint(note, th.log_verifier, witnesses)
            if cp.checkpoint.size == 50 and len(cp.cosigners) == 2:
                break
            assert time.monotonic() < deadline, f"not cosigned in time: {note!r}"
            time.sleep(0.1)
        assert len(parse_note(note).signatures) == 3
        info = httpx.get(urls[0] + "/v1/node").json()["witnessing"]
        assert info == {
            "size": 50,
            "cosigners": ["MY-PERKESO", "SG-CPF"],
            "quorum": 2,
            "witnessed": True,
        }
        # Each witness recorded the checkpoint it cosigned.
        for w in opened[1:]:
            assert w.witness.latest("sso.go.th/pel")[0] == 50  # type: ignore[index]
        # The log grows; the witnesses cosign the new checkpoint from their recorded size.
        th.submit([f.contribution(body={"currency": "THB"}) for _ in range(30)])
        deadline = time.monotonic() + 30
        while True:
            cp = open_checkpoint(
                httpx.get(urls[0] + "/checkpoint").content, th.log_verifier, witnesses
            )
            if cp.checkpoint.size == 80 and len(cp.cosigners) == 2:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
