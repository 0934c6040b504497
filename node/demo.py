"""The ten-state demo: a federation of member agencies' nodes on one machine, filled and witnessed.

``setup_federation`` creates one node directory per agency (keys, settings, a write
token kept in ``DIR/<agency>/token``, mode 0600), signs version 1 of the trust list
with every member's issuer key and applies it to every node. ``NodeProcesses`` runs
each node as its own ``pel serve`` process on loopback (so the nodes share the cores
and one can be stopped alone) and stops them all on exit. ``load_filings`` submits
the corridors' synthetic filings over HTTP with each node's token, ``wait_witnessed``
polls every node's ``/v1/node`` until each log's latest checkpoint has the witness
quorum (and, where nodes report mirrors, is mirrored by every other member), and
``summary_rows``/``sample_worker`` describe the result. ``run_demo`` puts it together.

``DIR/demo.json`` records the agencies, the ports and the quorum, so a second run on
the same directory restarts the same federation (submissions are idempotent: the same
seed gives the same records, which the logs report as duplicates).
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ledger.federation import Member, SignedTrustList, TrustList
from node.asean import agency_for
from node.client import LogClient
from node.corridors import CorridorFilings, Worker, corridor_filings
from node.errors import DemoError, PeerError
from node.federation import apply_version
from node.node import init_node
from node.submit import submit_rows

#: The member agencies in the demo's order: the first N always include both ends of
#: a corridor (Myanmar → Thailand first), so every log of a smaller demo gets records.
DEMO_ORDER: tuple[str, ...] = (
    "TH-SSO",
    "MM-SSB",
    "MY-PERKESO",
    "ID-BPJSTK",
    "SG-CPF",
    "PH-SSS",
    "KH-NSSF",
    "LA-LSSO",
    "VN-VSS",
    "BN-TAP",
)
#: Each agency's log origin (its checkpoints' first line and key name).
ORIGINS: dict[str, str] = {
    "TH-SSO": "sso.go.th/pel",
    "MM-SSB": "ssb.gov.mm/pel",
    "MY-PERKESO": "perkeso.gov.my/pel",
    "ID-BPJSTK": "bpjsketenagakerjaan.go.id/pel",
    "SG-CPF": "cpf.gov.sg/pel",
    "PH-SSS": "sss.gov.ph/pel",
    "KH-NSSF": "nssf.gov.kh/pel",
    "LA-LSSO": "lsso.gov.la/pel",
    "VN-VSS": "vss.gov.vn/pel",
    "BN-TAP": "tap.gov.bn/pel",
}
MIN_STATES = 2
FEDERATION = "ASEAN social-security portability (demo)"
DEMO_FILE = "demo.json"
TRUST_FILE = "trust.json"
LOCAL_URL = "http://127.0.0.1:{port}"


def default_quorum(states: int) -> int:
    """Half the members, rounded up: with ten states a checkpoint needs five of the other
    nine agencies' cosignatures; with two, the other one's."""
    return max(1, math.ceil(states / 2))


def template_fields(agency: str, port: int) -> dict[str, str | int]:
    """What ``--url-template`` and ``--database-template`` may name: ``{agency}``
    (TH-SSO), ``{host}`` (th-sso), ``{db}`` (pel_th_sso) and ``{port}``."""
    low = agency.lower()
    return {"agency": agency, "host": low, "db": "pel_" + low.replace("-", "_"), "port": port}


@dataclass
class DemoNode:
    """One member of the demo federation as the demo directory records it."""

    agency: str
    origin: str
    url: str
    port: int
    directory: Path

    @property
    def state(self) -> str:
        return agency_for(self.agency).state

    def token(self) -> str:
        return (self.directory / "token").read_text().strip()


@dataclass
class Demo:
    """A demo directory: its members and the trust list they share."""

    directory: Path
    nodes: list[DemoNode]
    quorum: int

    @classmethod
    def load(cls, directory: Path) -> Demo:
        path = directory / DEMO_FILE
        if not path.is_file():
            raise DemoError(f"{directory} holds no demo federation (no {DEMO_FILE})")
        data = json.loads(path.read_text())
        nodes = [
            DemoNode(n["agency"], n["origin"], n["url"], n["port"], directory / n["agency"])
            for n in data["nodes"]
        ]
        return cls(directory, nodes, data["quorum"])

    def save(self) -> None:
        nodes = [
            {"agency": n.agency, "origin": n.origin, "url": n.url, "port": n.port}
            for n in self.nodes
        ]
        doc = {"federation": FEDERATION, "quorum": self.quorum, "nodes": nodes}
        (self.directory / DEMO_FILE).write_text(json.dumps(doc, indent=2) + "\n")

    @property
    def agencies(self) -> list[str]:
        return [n.agency for n in self.nodes]


def _save_token(path: Path, token: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all held open while choosing)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def setup_federation(
    directory: Path,
    agencies: Sequence[str],
    *,
    ports: Sequence[int],
    quorum: int,
    url_template: str = LOCAL_URL,
    database_template: str | None = None,
) -> Demo:
    """Create every member's node directory and the signed trust list (version 1).

    Every member signs version 1 (the threshold is all members, as the design asks);
    the witness quorum is ``quorum``. Each node's write token is kept in
    ``DIR/<agency>/token`` (0600) for the loader; only its hash is in the database.

    Raises:
        DemoError: ``directory`` is not empty, or a template names an unknown field.
        ConfigError: a node cannot be created (bad database URL, …).
    """
    if directory.exists() and any(directory.iterdir()):
        raise DemoError(f"{directory} is not empty and holds no demo federation")
    if not 1 <= quorum <= len(agencies) - 1:
        raise DemoError(
            f"the witness quorum must be between 1 and {len(agencies) - 1} for "
            f"{len(agencies)} states, not {quorum}"
        )
    directory.mkdir(parents=True, exist_ok=True)
    demo_nodes, members, keys = [], [], []
    for agency, port in zip(agencies, ports, strict=True):
        fields = template_fields(agency, port)
        try:
            url = url_template.format(**fields)
            db = database_template.format(**fields) if database_template else None
        except (KeyError, IndexError, ValueError) as exc:
            raise DemoError(f"a template names an unknown field: {exc}") from None
        node_dir = directory / agency
        node, token = init_node(node_dir, agency=agency, origin=ORIGINS[agency], database_url=db)
        try:
            _save_token(node_dir / "token", token)
            members.append(
                Member(
                    agency=agency,
                    country=agency_for(agency).country,
                    name=agency_for(agency).name,
                    role="both",
                    origin=ORIGINS[agency],
                    url=url,
                    log_key=node.log_signer.vkey,
                    issuer_key=node.issuer_public_key.to_base64(),
                    witness_key=node.witness.signer.vkey,
                )
            )
            keys.append(node.issuer_key)
        finally:
            node.stop()
        demo_nodes.append(DemoNode(agency, ORIGINS[agency], url, port, node_dir))
    tl = TrustList(
        federation=FEDERATION,
        version=1,
        members=tuple(members),
        witness_quorum=quorum,
        threshold=len(members),
    )
    tl.check()
    signed = SignedTrustList(tl)
    for member, key in zip(members, keys, strict=True):
        signed = signed.sign(member.agency, key)
    for n in demo_nodes:
        apply_version(n.directory, signed)
    (directory / TRUST_FILE).write_text(signed.to_json())
    demo = Demo(directory, demo_nodes, quorum)
    demo.save()
    return demo


# ---- running the nodes -------------------------------------------------------------


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
        args = [sys.executable, "-m", "node.cli", "serve", str(self.node.directory)]
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


# ---- filling and watching ----------------------------------------------------------


def load_filings(
    demo: Demo, filings: CorridorFilings, *, urls: dict[str, str] | None = None
) -> dict[str, int]:
    """Submit every agency's drafts to its node over HTTP, one thread per node (the
    nodes sign in parallel); returns the records taken (appended or already there).

    Raises:
        DemoError: a node refused records or could not be reached.
    """
    results: dict[str, int] = {}
    errors: list[str] = []

    def one(n: DemoNode) -> None:
        drafts = filings.drafts.get(n.agency, [])
        try:
            with LogClient((urls or {}).get(n.agency, n.url), token=n.token()) as client:
                report = submit_rows(client, enumerate(drafts, 1), batch_size=1000, retries=2)
        except PeerError as exc:
            errors.append(f"{n.agency}: {exc.message}")
            return
        if report.refused:
            first = report.refused[0]
            errors.append(f"{n.agency} refused {len(report.refused)} records: {first['message']}")
        results[n.agency] = report.appended + report.duplicates

    # Daemon threads: an interrupted demo exits without waiting for a submission.
    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in demo.nodes]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    if errors:
        raise DemoError("; ".join(sorted(errors)), code="load_failed")
    return results


@dataclass
class LogStatus:
    """One log as its node and the other members see it."""

    node: DemoNode
    tree_size: int = 0
    pending: int = 0
    cosigners: list[str] = field(default_factory=list)
    quorum: int = 0
    witnessed: bool = False
    #: Agencies whose mirror holds this log up to ``tree_size``; None: not reported.
    mirrored_by: list[str] | None = None
    members: int = 0
    error: str = ""

    def done(self, expected: int, mirrors: bool) -> bool:
        complete = self.tree_size >= expected and self.pending == 0 and self.witnessed
        if not mirrors:
            return complete
        return complete and len(self.mirrored_by or []) == self.members - 1


def survey(demo: Demo, http: httpx.Client, urls: dict[str, str]) -> list[LogStatus]:
    """Every node's ``/v1/node``, as one status per log (mirrors as the others report them)."""
    infos: dict[str, dict[str, Any]] = {}
    statuses = []
    for n in demo.nodes:
        st = LogStatus(n, members=len(demo.nodes))
        try:
            r = http.get(urls[n.agency] + "/v1/node")
            r.raise_for_status()
            info = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            st.error = f"cannot read /v1/node: {exc}"
            statuses.append(st)
            continue
        infos[n.agency] = info
        w = info.get("witnessing", {})
        st.tree_size, st.pending = info["tree_size"], info["pending"]
        st.cosigners, st.quorum = list(w.get("cosigners", [])), w.get("quorum", 0)
        st.witnessed = bool(w.get("witnessed")) and w.get("size") == st.tree_size
        statuses.append(st)
    if any("mirrors" in info for info in infos.values()):
        for st in statuses:
            st.mirrored_by = sorted(
                agency
                for agency, info in infos.items()
                if agency != st.node.agency and _mirrors(info, st.node.origin, st.tree_size)
            )
    return statuses


def _mirrors(info: dict[str, Any], origin: str, size: int) -> bool:
    m = (info.get("mirrors") or {}).get(origin)
    return (
        isinstance(m, dict)
        and int(m.get("size") or 0) >= size
        and not m.get("error")
        and not m.get("flagged")
    )


def wait_witnessed(
    demo: Demo,
    expected: dict[str, int],
    *,
    timeout: float,
    urls: dict[str, str] | None = None,
    alive: Callable[[], None] | None = None,
) -> list[LogStatus]:
    """Poll until every log holds its expected records in a checkpoint with the witness
    quorum (and, when the nodes report mirrors, mirrored by every other member).

    Raises:
        DemoError (``not_witnessed``): not all done within ``timeout`` seconds.
    """
    urls = urls or {n.agency: n.url for n in demo.nodes}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0) as http:
        while True:
            if alive is not None:
                alive()
            statuses = survey(demo, http, urls)
            mirrors = any(st.mirrored_by is not None for st in statuses)
            late = [st for st in statuses if not st.done(expected.get(st.node.agency, 0), mirrors)]
            if not late:
                return statuses
            if time.monotonic() > deadline:
                what = "; ".join(_lateness(st, expected, mirrors) for st in late)
                raise DemoError(f"not done after {timeout:.0f} s: {what}", code="not_witnessed")
            time.sleep(0.25)


def _lateness(st: LogStatus, expected: dict[str, int], mirrors: bool) -> str:
    if st.error:
        return f"{st.node.agency}: {st.error}"
    want = expected.get(st.node.agency, 0)
    if st.tree_size < want or st.pending:
        return f"{st.node.agency}: {st.tree_size} of {want} records in a checkpoint"
    if not st.witnessed:
        return (
            f"{st.node.agency}: cosigned by {len(st.cosigners)} of the quorum {st.quorum} "
            f"({', '.join(st.cosigners) or 'none'})"
        )
    return f"{st.node.agency}: mirrored by {len(st.mirrored_by or [])} of {len(expected) - 1}"


def summary_rows(statuses: Sequence[LogStatus]) -> list[dict[str, Any]]:
    """One row per log for the summary table (and ``--json``)."""
    return [
        {
            "state": st.node.state,
            "agency": st.node.agency,
            "origin": st.node.origin,
            "url": st.node.url,
            "tree_size": st.tree_size,
            "witnessed": st.witnessed,
            "quorum": st.quorum,
            "cosigners": st.cosigners,
            "mirrored_by": st.mirrored_by,
        }
        for st in statuses
    ]


def sample_worker(demo: Demo, worker: Worker, urls: dict[str, str] | None = None) -> dict[str, Any]:
    """Where one worker's records are: the enrolment's index in the home log, the
    contributions' (and any entitlements') indices in the host log, read over HTTP."""
    urls = urls or {n.agency: n.url for n in demo.nodes}

    def indices(agency: str, ids: Sequence[str]) -> list[int]:
        out = []
        with httpx.Client(base_url=urls[agency], timeout=10.0) as http:
            for record_id in ids:
                try:
                    r = http.get(f"/v1/records/{agency}/{record_id}")
                    r.raise_for_status()
                except httpx.HTTPError as exc:
                    raise PeerError(f"cannot read {agency}'s record {record_id}: {exc}") from None
                out.append(int(r.json()["index"]))
        return out

    home, host = agency_for(worker.home), agency_for(worker.host)
    return {
        "pwid": worker.pwid,
        "home": {"state": home.state, "agency": home.id},
        "host": {"state": host.state, "agency": host.id},
        "enrolment": {
            "agency": home.id,
            "id": worker.enrolment,
            "index": indices(home.id, [worker.enrolment])[0],
            "url": f"{urls[home.id]}/v1/records/{home.id}/{worker.enrolment}",
        },
        "contributions": {
            "agency": host.id,
            "ids": worker.contributions,
            "indices": indices(host.id, worker.contributions),
        },
        "entitlements": {
            "agency": host.id,
            "ids": worker.entitlements,
            "indices": indices(host.id, worker.entitlements),
        },
    }


def pick_sample(filings: CorridorFilings) -> Worker:
    """The worker with the most records among those of the heaviest corridor's first."""
    return max(filings.workers[:5], key=lambda w: (len(w.entitlements), len(w.contributions)))


__all__ = [
    "DEMO_ORDER",
    "MIN_STATES",
    "ORIGINS",
    "Demo",
    "DemoNode",
    "LogStatus",
    "NodeProcesses",
    "corridor_filings",
    "default_quorum",
    "free_ports",
    "load_filings",
    "sample_worker",
    "setup_federation",
    "summary_rows",
    "wait_witnessed",
]


# ---- the whole demo ----------------------------------------------------------------


@dataclass
class DemoOptions:
    """What ``pel demo`` was asked to do (see the command's help)."""

    directory: Path = Path("var/demo")
    states: int = len(DEMO_ORDER)
    workers: int = 500
    months: int = 48
    quorum: int | None = None
    base_port: int | None = None
    seed: int = 0
    timeout: float = 60.0
    exit_after: bool = False
    init_only: bool = False
    load_only: bool = False
    url_template: str = LOCAL_URL
    database_template: str | None = None


def open_or_setup(opts: DemoOptions) -> tuple[Demo, bool]:
    """The demo federation in ``opts.directory``: the one already there (same states),
    or a new one. Returns it and whether it was created now."""
    if not MIN_STATES <= opts.states <= len(DEMO_ORDER):
        raise DemoError(f"--states must be between {MIN_STATES} and {len(DEMO_ORDER)}")
    agencies = list(DEMO_ORDER[: opts.states])
    if (opts.directory / DEMO_FILE).is_file():
        demo = Demo.load(opts.directory)
        if demo.agencies != agencies:
            raise DemoError(
                f"{opts.directory} holds a demo of {len(demo.agencies)} states "
                f"({', '.join(demo.agencies)}); give another --dir or remove it"
            )
        return demo, False
    if opts.base_port is not None:
        ports = [opts.base_port + i for i in range(len(agencies))]
    else:
        ports = free_ports(len(agencies))
    quorum = opts.quorum if opts.quorum is not None else default_quorum(len(agencies))
    demo = setup_federation(
        opts.directory,
        agencies,
        ports=ports,
        quorum=quorum,
        url_template=opts.url_template,
        database_template=opts.database_template,
    )
    return demo, True


def _on_sigterm(_signum: int, _frame: object) -> None:
    # SIGTERM is handled like Ctrl-C: the nodes are stopped on the way out.
    raise KeyboardInterrupt


@dataclass
class DemoResult:
    """What the demo shows at the end of its set-up (printed as a table or as JSON)."""

    elapsed: float
    logs: list[dict[str, Any]]
    quorum: int
    sample: dict[str, Any] | None
    records: int
    pids: dict[str, int]
    urls: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "federation": FEDERATION,
            "elapsed_s": round(self.elapsed, 2),
            "quorum": self.quorum,
            "records": self.records,
            "mirrors_reported": any(r["mirrored_by"] is not None for r in self.logs),
            "logs": self.logs,
            "sample_worker": self.sample,
            "pids": self.pids,
            "urls": self.urls,
        }


def fill_and_watch(
    demo: Demo,
    opts: DemoOptions,
    urls: dict[str, str],
    say: Callable[[str], None],
    alive: Callable[[], None] | None = None,
) -> tuple[list[LogStatus], dict[str, Any], int]:
    """Submit the corridors' filings, wait until every log is witnessed, find the sample."""
    filings = corridor_filings(
        demo.agencies, workers=opts.workers, months=opts.months, seed=opts.seed
    )
    empty = [a for a, d in filings.drafts.items() if not d]
    if empty:
        # An empty log has no checkpoint for anyone to witness.
        raise DemoError(
            f"{opts.workers} workers leave {', '.join(empty)} without records: give more --workers"
        )
    started = time.monotonic()
    taken = load_filings(demo, filings, urls=urls)
    say(
        f"submitted {filings.count()} records for {len(filings.workers)} workers over "
        f"{opts.months} months in {time.monotonic() - started:.1f} s"
    )
    expected = {a: len(d) for a, d in filings.drafts.items()}
    statuses = wait_witnessed(demo, expected, timeout=opts.timeout, urls=urls, alive=alive)
    sample = sample_worker(demo, pick_sample(filings), urls)
    return statuses, sample, sum(taken.values())


def run_demo(
    opts: DemoOptions, say: Callable[[str], None], show: Callable[[DemoResult], None]
) -> int:
    """Set up (or reopen) the federation, run its nodes, fill them, wait for the witnesses,
    ``show`` the result, and serve until Ctrl-C (or stop, with ``exit_after``).

    ``say`` gets progress lines. With ``init_only`` only the node directories and the
    trust list are made; with ``load_only`` the nodes are taken to be running already
    at their trust-list URLs (as in Docker Compose). Otherwise every node runs as a
    ``pel serve`` process of this one, and Ctrl-C, SIGTERM or any error stops them all
    (SIGTERM to each, a kill after 15 s); a node that stops alone while serving is
    reported and the others go on.

    Returns:
        The exit status: 0 once shown (or stopped by Ctrl-C / SIGTERM while serving).

    Raises:
        DemoError: set-up failed, a node failed, or a log was not witnessed in time.
    """
    started = time.monotonic()
    demo, created = open_or_setup(opts)
    say(
        f"{'created' if created else 'reusing'} {opts.directory}: {len(demo.nodes)} member "
        f"agencies, witness quorum {demo.quorum}, trust list version 1 signed by all"
    )
    if opts.init_only:
        return 0
    if opts.load_only:
        urls = {n.agency: n.url for n in demo.nodes}
        statuses, sample, records = fill_and_watch(demo, opts, urls, say)
        elapsed = time.monotonic() - started
        show(DemoResult(elapsed, summary_rows(statuses), demo.quorum, sample, records, {}, urls))
        return 0
    urls = {n.agency: LOCAL_URL.format(port=n.port) for n in demo.nodes}
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    procs = NodeProcesses(demo.nodes)
    try:
        with procs:
            procs.wait_ready(30.0)
            say(f"{len(demo.nodes)} nodes serving after {time.monotonic() - started:.1f} s")
            statuses, sample, records = fill_and_watch(demo, opts, urls, say, procs.check_alive)
            elapsed = time.monotonic() - started
            rows = summary_rows(statuses)
            show(DemoResult(elapsed, rows, demo.quorum, sample, records, procs.pids(), urls))
            if opts.exit_after:
                return 0
            say("serving; Ctrl-C stops every node")
            return procs.watch(say)
    except KeyboardInterrupt:
        say("stopped every node")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
