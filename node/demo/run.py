"""The ten-state demo: a federation of member agencies' nodes on one machine, filled and witnessed.

``run_demo`` puts it together: ``setup_federation`` (node/demo_setup.py) makes the
node directories and the signed trust list, ``NodeProcesses`` (node/demo_nodes.py)
runs each node as its own ``pel serve`` process, ``load_filings`` and
``wait_witnessed`` (node/demo_load.py) fill the logs and wait for the witnesses, and
node/demo_view.py prints the summary.

``DIR/demo.json`` records the agencies, the ports and the quorum, so a second run on
the same directory restarts the same federation (submissions are idempotent: the same
seed gives the same records, which the logs report as duplicates).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pel.node.demo.careers import career_decisions, career_drafts
from pel.node.demo.corridors import corridor_filings
from pel.node.demo.law import publish_law
from pel.node.demo.load import (
    LogStatus,
    load_filings,
    pick_sample,
    sample_worker,
    summary_rows,
    survey,
    wait_witnessed,
)
from pel.node.demo.processes import NodeProcesses
from pel.node.demo.setup import (
    DEMO_FILE,
    DEMO_ORDER,
    FEDERATION,
    LOCAL_URL,
    MIN_STATES,
    ORIGINS,
    Demo,
    DemoNode,
    default_quorum,
    free_ports,
    setup_federation,
    template_fields,
)
from pel.node.errors import DemoError

__all__ = [
    "DEMO_ORDER",
    "MIN_STATES",
    "ORIGINS",
    "Demo",
    "DemoNode",
    "DemoOptions",
    "DemoResult",
    "LogStatus",
    "NodeProcesses",
    "corridor_filings",
    "default_quorum",
    "free_ports",
    "load_filings",
    "run_demo",
    "sample_worker",
    "setup_federation",
    "summary_rows",
    "survey",
    "template_fields",
    "wait_witnessed",
]


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
    timeout: float = 120.0
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
    directory: Path = Path("var/demo")
    law: dict[str, Any] | None = None
    #: Whether the nodes go on serving after the summary (not with ``--exit-after``).
    serving: bool = True
    career: dict[str, Any] | None = None

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
            "law": self.law,
            "career": self.career,
        }


def fill_and_watch(
    demo: Demo,
    opts: DemoOptions,
    urls: dict[str, str],
    say: Callable[[str], None],
    alive: Callable[[], None] | None = None,
) -> tuple[list[LogStatus], dict[str, Any], int, dict[str, Any]]:
    """Publish the members' rules and the agreements, submit the corridors' filings (and
    the cross-border career's, ``node.demo.careers``), wait until every log is witnessed,
    find the sample, and decide the career worker's entitlements."""
    filings = corridor_filings(
        demo.agencies, workers=opts.workers, months=opts.months, seed=opts.seed
    )
    empty = [a for a, d in filings.drafts.items() if not d]
    if empty:
        # An empty log has no checkpoint for anyone to witness.
        raise DemoError(
            f"{opts.workers} workers leave {', '.join(empty)} without records: give more --workers"
        )
    for agency, drafts in career_drafts(demo.agencies, opts.seed).items():
        filings.drafts[agency].extend(drafts)
    started = time.monotonic()
    law = publish_law(demo, urls, say)
    taken = load_filings(demo, filings, urls=urls)
    say(
        f"submitted {filings.count()} records for {len(filings.workers)} workers over "
        f"{opts.months} months in {time.monotonic() - started:.1f} s"
    )
    expected = {a: len(d) for a, d in filings.drafts.items()}
    statuses = wait_witnessed(demo, expected, timeout=opts.timeout, urls=urls, alive=alive)
    sample = sample_worker(demo, pick_sample(filings), urls)
    if career_drafts(demo.agencies, opts.seed):
        law["career"] = career_decisions(demo, urls, opts.seed)
    return statuses, sample, sum(taken.values()) + law["records"], law


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
        urls = demo.urls()
        statuses, sample, records, law = fill_and_watch(demo, opts, urls, say)
        elapsed = time.monotonic() - started
        show(
            DemoResult(
                elapsed,
                summary_rows(statuses),
                demo.quorum,
                sample,
                records,
                {},
                urls,
                opts.directory,
                law,
                career=law.pop("career", None),
            )
        )
        return 0
    urls = {n.agency: LOCAL_URL.format(port=n.port) for n in demo.nodes}
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    procs = NodeProcesses(demo.nodes)
    try:
        with procs:
            procs.wait_ready(30.0)
            say(f"{len(demo.nodes)} nodes serving after {time.monotonic() - started:.1f} s")
            statuses, sample, records, law = fill_and_watch(
                demo, opts, urls, say, procs.check_alive
            )
            elapsed = time.monotonic() - started
            rows = summary_rows(statuses)
            show(
                DemoResult(
                    elapsed,
                    rows,
                    demo.quorum,
                    sample,
                    records,
                    procs.pids(),
                    urls,
                    opts.directory,
                    law,
                    serving=not opts.exit_after,
                    career=law.pop("career", None),
                )
            )
            if opts.exit_after:
                return 0
            say("serving; Ctrl-C stops every node")
            return procs.watch(say)
    except KeyboardInterrupt:
        say("stopped every node")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
