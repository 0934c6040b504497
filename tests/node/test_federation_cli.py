"""``pel federation``: a trust list made, signed and applied by the members themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pel.crypto.keys import SigningKey
from pel.crypto.record import sign_record
from pel.ledger.errors import BatchError, RecordError
from pel.node.agency_node import Node
from pel.node.trust.secret_files import write_private_key
from tests import factories as f
from tests.node.test_cli import run

AGENCIES = [
    ("TH-SSO", "sso.go.th/pel"),
    ("MY-PERKESO", "perkeso.gov.my/pel"),
    ("PH-SSS", "sss.gov.ph/pel"),
]


@pytest.fixture
def fed(tmp_path: Path) -> tuple[list[Path], Path]:
    dirs = []
    for agency, origin in AGENCIES:
        d = tmp_path / agency
        code, _, err = run("init", str(d), "--agency", agency, "--origin", origin, "--json")
        assert code == 0, err
        code, out, err = run(
            "federation",
            "member",
            str(d),
            "--url",
            f"http://{agency}.example",
            "--name",
            f"{agency} agency",
        )
        assert code == 0, err
        (tmp_path / f"{agency}.member.json").write_text(out)
        dirs.append(d)
    v1 = tmp_path / "v1.json"
    members = [
        a for agency, _ in AGENCIES for a in ("--member", str(tmp_path / f"{agency}.member.json"))
    ]
    code, out, err = run(
        "federation", "init", str(v1), "--name", "asean-test", *members, "--quorum", "1"
    )
    assert code == 0, err
    for d in dirs[:2]:
        assert run("federation", "sign", str(v1), "--directory", str(d))[0] == 0
    # Two of three signatures: version 1 needs all three.
    code, _, err = run("federation", "apply", str(dirs[0]), str(v1))
    assert code == 1 and "Traceback" not in err
    assert "2 of its own members with their listed keys; 3 are needed" in err
    assert run("federation", "sign", str(v1), "--directory", str(dirs[2]))[0] == 0
    for d in dirs:
        code, out, err = run("federation", "apply", str(d), str(v1))
        assert code == 0, err
    return dirs, tmp_path


def test_apply_show_and_policy(fed: tuple[list[Path], Path]) -> None:
    dirs, _ = fed
    code, out, _ = run("federation", "show", str(dirs[0]))
    assert code == 0 and "asean-test" in out and "MY-PERKESO" in out and "quorum 1" in out
    code, out, _ = run("federation", "show", str(dirs[0]), "--policy", "sso.go.th/pel")
    assert out.startswith("# asean-test trust list version 1\nlog sso.go.th/pel+")
    assert "group members 1 MY-PERKESO PH-SSS\nquorum members\n" in out
    node = Node.open(dirs[0])
    try:
        assert node.trust_list is not None and node.trust_list.version == 1
        assert set(node.witness.logs) == {"perkeso.gov.my/pel", "sss.gov.ph/pel"}
        assert len(node.submit([f.contribution(body={"currency": "THB"})])) == 1
    finally:
        node.stop()


def test_a_new_version_needs_the_threshold(fed: tuple[list[Path], Path]) -> None:
    dirs, tmp = fed
    v2 = tmp / "v2.json"
    code, _, err = run("federation", "propose", str(dirs[0]), str(v2), "--quorum", "2")
    assert code == 0, err
    for d in dirs[:2]:
        run("federation", "sign", str(v2), "--directory", str(d))
    code, _, err = run("federation", "apply", str(dirs[0]), str(v2))
    assert code == 1 and "are needed" in err
    run("federation", "sign", str(v2), "--directory", str(dirs[2]))
    code, out, err = run("federation", "apply", str(dirs[0]), str(v2))
    assert code == 0, err
    assert run("federation", "apply", str(dirs[0]), str(v2))[0] == 0  # idempotent
    code, out, _ = run("federation", "show", str(dirs[0]))
    assert "version 2" in out and "quorum 2" in out


def test_key_rotation_and_removal(fed: tuple[list[Path], Path]) -> None:
    dirs, tmp = fed
    th = dirs[0]
    node = Node.open(th)
    old_key = node.issuer_key
    node.stop()
    new_key = SigningKey.generate()
    write_private_key(tmp / "new-issuer.pem", new_key)
    entry = json.loads((tmp / "TH-SSO.member.json").read_text())
    entry["issuer_key"] = new_key.public_key.to_base64()
    (tmp / "TH-rotated.json").write_text(json.dumps(entry))
    v2 = tmp / "v2.json"
    assert (
        run("federation", "propose", str(th), str(v2), "--add", str(tmp / "TH-rotated.json"))[0]
        == 0
    )
    for d in dirs:
        run("federation", "sign", str(v2), "--directory", str(d))
    code, _, err = run("federation", "apply", str(th), str(v2))
    assert code == 1 and "2 of its own members" in err  # the new key has not signed yet
    code, _, err = run(
        "federation", "sign", str(v2), "--key", str(tmp / "new-issuer.pem"), "--agency", "TH-SSO"
    )
    assert code == 0, err
    for d in dirs:
        assert run("federation", "apply", str(d), str(v2))[0] == 0

    node = Node.open(th)
    try:
        old = sign_record(f.with_issuer(f.contribution(), "TH-SSO"), old_key)
        with pytest.raises(BatchError) as info:
            node.submit([old])
        assert info.value.problems[0][1].code == "bad_signature"
        new = sign_record(f.with_issuer(f.contribution(), "TH-SSO"), new_key)
        assert len(node.submit([new])) == 1
        # Drafts would be signed with the node's old key file: refused until it is replaced.
        with pytest.raises(RecordError) as refused:
            node.submit([f.contribution()])
        assert refused.value.code == "issuer_key_not_current"
    finally:
        node.stop()

    # Removing PH-SSS: its own node then takes no records.
    v3 = tmp / "v3.json"
    assert run("federation", "propose", str(th), str(v3), "--remove", "PH-SSS")[0] == 0
    run("federation", "sign", str(v3), "--directory", str(dirs[1]))
    run("federation", "sign", str(v3), "--directory", str(dirs[2]))
    run("federation", "sign", str(v3), "--key", str(tmp / "new-issuer.pem"), "--agency", "TH-SSO")
    for d in dirs:
        code, _, err = run("federation", "apply", str(d), str(v3))
        assert code == 0, err
    ph = Node.open(dirs[2])
    try:
        with pytest.raises(BatchError) as info:
            ph.submit([f.contribution(body={"currency": "PHP"})])
        assert info.value.problems[0][1].code == "not_a_member"
    finally:
        ph.stop()
    node = Node.open(dirs[1])
    try:
        assert set(node.witness.logs) == {"sso.go.th/pel"}
    finally:
        node.stop()
