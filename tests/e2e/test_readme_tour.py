"""The README's five-minute tour works as printed: its shell blocks are run as they stand
in a scratch directory, with two changes only, so that it fits a test: a smaller
federation (three states, few workers) and free loopback ports in place of 8100 and up.

The demo serves until it is stopped; it runs in a process group of its own, stopped with
SIGINT (Ctrl-C) at the end whatever happens, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PORT = 8100  # the tour's first port
SMALLER = "--states 3 --workers 20 --months 6"

pytestmark = pytest.mark.slow


def tour_blocks() -> list[str]:
    """The ``sh`` blocks of the README's tour section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def free_base(count: int) -> int:
    """A port P with P … P+count-1 all free on the loopback (bounded tries)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            held = []
            for port in range(base, base + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free range of ports")


def bash(script: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A directory where ``.venv/bin/pel`` and ``.venv/bin/python`` are this environment's."""
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    return tmp_path


@pytest.fixture
def demo(scratch: Path) -> Iterator[tuple[Path, int, list[str]]]:
    """The tour's first block run (the demo serving), then the other blocks, moved to the
    ports it serves on."""
    blocks = tour_blocks()
    assert len(blocks) == 4, blocks
    base = free_base(3)

    def moved(text: str) -> str:
        return re.sub(r"\b(81\d\d)\b", lambda m: str(base + int(m.group(1)) - PORT), text)

    first = [line for line in blocks[0].splitlines() if line.strip() != "make install"]
    assert len(first) == 1 and ".venv/bin/pel demo " in first[0], first
    command = moved(first[0]).replace("--json", f"--json {SMALLER}")
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=scratch,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        summary = scratch / "var" / "tour.json"
        deadline = time.monotonic() + 150
        while True:
            if summary.is_file() and summary.read_text().strip().endswith("}"):
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the demo did not print its summary in time"
            time.sleep(0.5)
        yield scratch, base, [moved(b) for b in blocks[1:]]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_the_readme_tour_works_as_printed(demo: tuple[Path, int, list[str]]) -> None:
    cwd, base, (shell, bundle, audit) = demo
    summary = json.loads((cwd / "var" / "tour.json").read_text())
    assert summary["logs"][0]["url"] == f"http://127.0.0.1:{base}"

    # 2. the explorer, the API's pages, the verifier and the two reads of the shell block
    text = README.read_text(encoding="utf-8")
    urls = set(re.findall(r"<(http://127\.0\.0\.1:8100/[^>]*)>", text))
    assert {"http://127.0.0.1:8100/", "http://127.0.0.1:8100/docs"} <= urls
    urls |= set(re.findall(r"curl -s (\S+)", shell.replace(str(base), "8100")))
    assert len(urls) >= 5
    for url in sorted(urls):
        answer = httpx.get(url.replace(":8100", f":{base}"), timeout=10)
        assert answer.status_code == 200, url

    # 3. the worker's bundle, assembled and verified offline
    done = bash(bundle, cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verified: bundle of " + summary["sample_worker"]["pwid"] in done.stdout
    assert (cwd / "var" / "bundle.json").is_file()

    # 4. the log audited at its node and at a member's mirror
    done = bash(audit, cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok: sso.go.th/pel audited") == 2, done.stdout
