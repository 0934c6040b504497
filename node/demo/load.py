"""Filling the demo federation and watching it: ``load_filings`` submits the corridors'
synthetic filings over HTTP with each node's token, ``wait_witnessed`` polls every node's
``/v1/node`` until each log's latest checkpoint has the witness quorum (and, where nodes
report mirrors, is mirrored by every other member), and ``summary_rows``/``sample_worker``
describe the result."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from pel.node.demo.asean import agency_for
from pel.node.demo.corridors import CorridorFilings, Worker
from pel.node.demo.setup import Demo, DemoNode
from pel.node.errors import DemoError, PeerError
from pel.node.filings.submit import submit_rows
from pel.node.peers.client import LogClient


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
    urls = urls or demo.urls()
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
    urls = urls or demo.urls()

    tokens = {n.agency: n.token() for n in demo.nodes}

    def indices(agency: str, ids: Sequence[str]) -> list[int]:
        out = []
        # Records are read with the agency's own token, sent to its own node only.
        auth = {"Authorization": f"Bearer {tokens[agency]}"}
        with httpx.Client(base_url=urls[agency], timeout=10.0, headers=auth) as http:
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
