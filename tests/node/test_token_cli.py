"""``pel token create|list|revoke`` and ``pel worker keygen`` on a node directory."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.node.access.holder_keys import read_holder_key
from pel.node.access.tokens import token_hash
from pel.node.agency_node import Node
from tests.node.test_cli import node_dir, run  # noqa: F401 (fixture)


def test_tokens_by_role_listed_and_revoked(node_dir: tuple[Path, dict]) -> None:  # noqa: F811
    directory, _info = node_dir
    code, out, err = run(
        "token", "create", str(directory), "--role", "auditor", "--json", "--label", "audit office"
    )
    assert code == 0, err
    token = json.loads(out)["token"]
    for path in directory.rglob("*"):  # only its hash is kept
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    code, out, err = run("token", "list", str(directory))
    assert code == 0, err
    token_id = token_hash(token)[:12]
    assert token_id in out and "auditor" in out and token not in out
    node = Node.open(directory)
    try:
        with TestClient(create_app(node, start=False)) as c:
            headers = {"Authorization": f"Bearer {token}"}
            assert c.get("/v1/records/0", headers=headers).status_code == 404  # granted
            code, out, err = run("token", "revoke", str(directory), token_id)
            assert code == 0 and f"revoked auditor token {token_id}" in out, err
            assert c.get("/v1/records/0", headers=headers).status_code == 401
    finally:
        node.stop()
    code, _, err = run("token", "revoke", str(directory), token_id)
    assert code == 1 and "[bad_config]" in err and "Traceback" not in err
    code, _, err = run("token", "create", str(directory), "--role", "root")
    assert code == 1 and "'root' is not a role" in err and "[bad_config]" in err


def test_worker_keygen_writes_a_private_key_file_once(tmp_path: Path) -> None:
    path = tmp_path / "worker.key"
    code, out, err = run("worker", "keygen", "--out", str(path), "--pwid", "MM-7K3Q9X2M4T8V1B5N")
    assert code == 0, err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    held = read_holder_key(path)
    assert held.pwid == "MM-7K3Q9X2M4T8V1B5N"
    assert f"holder_key: {held.key.public_key.to_base64()}" in out
    code, _, err = run("worker", "keygen", "--out", str(path))
    assert code == 1 and "refusing to overwrite" in err
    code, _, err = run("worker", "keygen", "--out", str(tmp_path / "x"), "--pwid", "nope")
    assert code == 1 and "[bad_config]" in err
