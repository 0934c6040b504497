"""The demo's node processes: each member's node served by its own ``pel serve`` process
on loopback (so the nodes share the cores and one can be stopped alone), started
together and stopped together, also on errors and on a second Ctrl-C."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from pel.node.demo.setup import LOCAL_URL, DemoNode
from pel.node.errors import DemoError


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Linux: the node gets SIGTERM if the demo process dies without stopping it
    # (SIGKILL, a crash), so no node outlives the demo.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class NodeProcess:
    """One node served by its own ``pel serve`` process, its output in ``serve.log``."""

    node: DemoNode
    host: str = "127.0.0.1"
    popen: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.node.directory / "serve.log"

    def start(self) -> None:
        args = [sys.executable, "-m", "pel.node.cli", "serve", str(self.node.directory)]
        args += ["--host", self.host, "--port", str(self.node.port)]
        with self.log_path.open("ab") as out:
            self.popen = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the demo, which stops the nodes in order
                preexec_fn=_die_with_parent,
            )

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def terminate(self) -> None:
        if self.running():
            assert self.popen is not None
            self.popen.terminate()

    def wait(self, timeout: float) -> None:
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


class NodeProcesses:
    """Every member's node process: started together, stopped together (also on errors)."""

    def __init__(self, nodes: Sequence[DemoNode]) -> None:
        self.procs = [NodeProcess(n) for n in nodes]

    def __enter__(self) -> NodeProcesses:
        try:
            for p in self.procs:
                p.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to every node (each finishes its requests and stops its sequencer),
        then wait; a node that does not stop in time is killed. A second Ctrl-C meanwhile
        cannot leave a node behind: the signals wait until every node is stopped."""
        main = threading.current_thread() is threading.main_thread()
        held = [signal.SIGINT, signal.SIGTERM]
        old = [signal.signal(s, signal.SIG_IGN) for s in held] if main else []
        try:
            for p in self.procs:
                p.terminate()
            deadline = time.monotonic() + timeout
            for p in self.procs:
                p.wait(max(0.1, deadline - time.monotonic()))
        finally:
            for s, handler in zip(held, old, strict=False):
                signal.signal(s, handler)

    def check_alive(self) -> None:
        """Raises DemoError (``node_failed``) if a node process has exited."""
        for p in self.procs:
            if not p.running():
                raise DemoError(f"the {p.node.agency} node exited: {p.tail()}", code="node_failed")

    def watch(self, say: Callable[[str], None], interval: float = 0.5) -> int:
        """Serve until interrupted, reporting each node that stops; 1 once none is left."""
        reported: set[str] = set()
        while True:
            for p in self.procs:
                if not p.running() and p.node.agency not in reported:
                    reported.add(p.node.agency)
                    say(f"the {p.node.agency} node stopped: {p.tail(2)}")
            if len(reported) == len(self.procs):
                return 1
            time.sleep(interval)

    def wait_ready(self, timeout: float) -> None:
        """Until every node answers ``/healthz``.

        Raises:
            DemoError: a node exited, or did not answer in time.
        """
        deadline = time.monotonic() + timeout
        waiting = list(self.procs)
        with httpx.Client(timeout=2.0) as http:
            while waiting:
                self.check_alive()
                for p in list(waiting):
                    try:
                        if http.get(LOCAL_URL.format(port=p.node.port) + "/healthz").is_success:
                            waiting.remove(p)
                    except httpx.HTTPError:
                        pass
                if waiting and time.monotonic() > deadline:
                    names = ", ".join(p.node.agency for p in waiting)
                    raise DemoError(f"nodes not answering after {timeout:.0f} s: {names}")
                if waiting:
                    time.sleep(0.1)

    def pids(self) -> dict[str, int]:
        return {p.node.agency: p.popen.pid for p in self.procs if p.popen is not None}
