"""``pel serve`` stopped by SIGTERM (``docker stop``, service managers) during sustained
ingest: it stops as on SIGINT, exits 0, and every acknowledged record is stored."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from pel.node.agency_node import Node
from pel.node.cli import app
from pel.node.demo.synth import synth_drafts
from tests.conftest import free_port
from tests.node.test_compose import wait_for_node

ROOT = Path(__file__).resolve().parents[2]
AGENCY = "TH-SSO"


def _load(url: str, token: str, seed: int, acked: dict[str, int], stop: threading.Event) -> None:
    """Submit batches until the server stops answering; keep every acknowledged record."""
    drafts = synth_drafts(AGENCY, 1_000_000, seed=seed)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for _ in range(10_000):  # bounded; ends far sooner, when the server stops
            if stop.is_set():
                return
            batch = [next(drafts) for _ in range(50)]
            try:
                r = client.post("/v1/records", json=batch)
            except httpx.HTTPError:
                return
            if r.status_code != 200:
                return
            for rec in r.json()["records"]:
                acked[rec["id"]] = rec["index"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_during_ingest_loses_nothing_acknowledged_and_exits_0(
    tmp_path: Path, sig: signal.Signals
) -> None:
    directory = tmp_path / "n"
    result = CliRunner().invoke(
        app,
        ["init", str(directory), "--agency", AGENCY, "--origin", "sso.go.th/pel", "--json"],
    )
    assert result.exit_code == 0, result.stderr
    token = json.loads(result.stdout)["token"]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pel.node.cli", "serve", str(directory), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    acked: list[dict[str, int]] = [{}, {}]
    stop = threading.Event()
    loaders = [
        threading.Thread(target=_load, args=(f"http://127.0.0.1:{port}", token, i, acked[i], stop))
        for i in range(2)
    ]
    try:
        wait_for_node(f"http://127.0.0.1:{port}", proc)  # type: ignore[arg-type]
        for t in loaders:
            t.start()
        deadline = time.monotonic() + 60
        while sum(map(len, acked)) < 2_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(map(len, acked)) >= 2_000, "the node took too few records"
        proc.send_signal(sig)  # while both loaders are submitting
        code = proc.wait(60)
        stderr = proc.stderr.read().decode()  # type: ignore[union-attr]
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for t in loaders:
            t.join(60)
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert f"stopped on {sig.name}" in stderr, stderr

    node = Node.open(directory)
    try:
        node.check()  # the full start-up check passes
        every = {rid: idx for part in acked for rid, idx in part.items()}
        assert node.log.state()[0] >= len(every)
        for rid, idx in every.items():
            assert node.log.find(rid)[0] == idx
    finally:
        node.stop()
