"""``pel demo``: a small federation run as real processes — witnessed, filled along the
corridors, summarised, and stopped without leaving a node behind (``--exit-after``, SIGINT)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from pel.api.app import create_app
from pel.ledger.errors import TrustListError
from pel.ledger.records import validate_record
from pel.node.agency_node import Node
from pel.node.demo.asean import agency_for
from pel.node.demo.corridors import corridor_filings
from pel.node.demo.run import (
    DEMO_ORDER,
    DemoResult,
    default_quorum,
    setup_federation,
    summary_rows,
    survey,
    wait_witnessed,
)
from pel.node.demo.view import print_summary
from pel.node.errors import DemoError
from pel.node.workers.bundles import witnessed_checkpoint
from tests.conftest import free_port, serve
from tests.node.test_cli import run

ROOT = Path(__file__).resolve().parents[2]
STATES = 4
SMALL = ["--states", str(STATES), "--workers", "12", "--months", "6", "--timeout", "60"]


def demo_args(directory: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pel.node.cli", "demo", "--dir", str(directory), *SMALL, *extra]


def run_demo(directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``pel demo`` run to its end in a process of its own, within two minutes."""
    return subprocess.run(
        demo_args(directory, *extra), cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (nodes, and their signature workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except OSError:
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def refuses(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) != 0


def check_summary(summary: dict) -> None:
    names = [row["state"] for row in summary["logs"]]
    assert names == [agency_for(a).state for a in DEMO_ORDER[:STATES]]
    assert summary["quorum"] == default_quorum(STATES) == 2
    for row in summary["logs"]:
        assert row["witnessed"] is True, row
        assert row["tree_size"] > 0
        assert len(row["cosigners"]) >= summary["quorum"]
        assert row["agency"] not in row["cosigners"]
    assert sum(row["tree_size"] for row in summary["logs"]) == summary["records"]
    # Every member published its rules; the multilateral and the bilateral agreement
    # among these four states are in each party's log.
    law = summary["law"]
    assert {r["state"] for r in law["rules"].values()} == {
        agency_for(a).country for a in DEMO_ORDER[:STATES]
    }
    agreements = law["agreements"]
    assert agreements["demo-agreement-th-my-mm"]["parties"] == ["TH-SSO", "MY-PERKESO", "MM-SSB"]
    assert agreements["demo-agreement-my-id"]["parties"] == ["MY-PERKESO", "ID-BPJSTK"]
    for a in agreements.values():
        assert set(a["indexes"]) == set(a["parties"])
    # Every node mirrors every other member's log, up to the size in the summary.
    assert summary["mirrors_reported"] is True
    for row in summary["logs"]:
        others = {r["agency"] for r in summary["logs"]} - {row["agency"]}
        assert set(row["mirrored_by"]) == others, row


@pytest.mark.slow
def test_exit_after_fills_witnesses_and_stops_every_node(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    done = run_demo(directory, "--exit-after", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    check_summary(summary)
    assert "Traceback" not in done.stderr
    # Nothing is left running: not the nodes, not their workers, and no port answers.
    assert set(summary["pids"]) == set(DEMO_ORDER[:STATES])
    assert not [pid for pid in summary["pids"].values() if alive(pid)]
    assert processes_mentioning(str(directory)) == []
    assert all(refuses(url) for url in summary["urls"].values())
    # The sample worker: enrolled in the home state's log, paid in the host state's.
    sample = summary["sample_worker"]
    home, host = sample["home"]["agency"], sample["host"]["agency"]
    assert home != host and sample["pwid"].startswith(agency_for(home).country + "-")
    node = Node.open(directory / home)
    try:
        index, entry = node.log.find(sample["enrolment"]["id"])
        record = json.loads(entry)
        assert index == sample["enrolment"]["index"] < node.log.tree_size()
        assert record["type"] == "enrolment" and record["pwid"] == sample["pwid"]
        assert record["body"]["home_country"] == agency_for(home).country
    finally:
        node.stop()
    node = Node.open(directory / host)
    try:
        assert sample["contributions"]["ids"]
        for record_id, at in zip(
            sample["contributions"]["ids"], sample["contributions"]["indices"], strict=True
        ):
            index, entry = node.log.find(record_id)
            record = json.loads(entry)
            assert index == at < node.log.tree_size()
            assert record["issuer"] == host and record["pwid"] == sample["pwid"]
            assert record["body"]["currency"] == agency_for(host).currency
        # Its witnessed checkpoint carries each witness's Ed25519 and ML-DSA-44 cosignatures.
        tl = node.current_trust_list()
        assert tl is not None and tl.cosigner_policy == "both"
        witnessed = witnessed_checkpoint(node, tl)
        assert witnessed is not None
        result = tl.quorum_rule(host).check_note(witnessed[1])
        assert result.ok and not result.invalid and len(result.verified) >= tl.witness_quorum
        assert set(result.kinds.values()) == {("ed25519", "ml-dsa-44")}
    finally:
        node.stop()
    check_law(directory, summary)
    check_career(summary)
    # A second run reopens the same federation: the same records, all already there.
    again = run_demo(directory, "--exit-after", "--json")
    assert again.returncode == 0, again.stderr
    assert "reusing" in again.stderr
    assert [r["tree_size"] for r in json.loads(again.stdout)["logs"]] == [
        r["tree_size"] for r in summary["logs"]
    ]


def check_career(summary: dict) -> None:
    """The cross-border worker (home MM, 108 months in TH at 15 000 THB, 96 in MY), under
    the shipped tables. Before the TH-MY-MM agreement is in force: 108 months are under
    Thailand's 180, so its lump sum, the contributions paid, 108 x 450 = 48 600.00.
    After: 204 months totalised (17 years): theoretical 15 000 x (0.20 + 0.015 x 2) =
    3 450.00 (under the 3 500 maximum); pro-rata 3 450 x 108/204 = 1 826.47 a month.
    Malaysia's scheme covers no foreign worker for old age: its lump sum either way."""
    career = summary["career"]
    assert career["pwid"].startswith("MM-")
    before = {s["state"]: s for s in career["without_agreement"]["states"]}
    after = {s["state"]: s for s in career["with_agreement"]["states"]}
    assert before["TH"]["outcome"] == "lump_sum" and before["TH"]["lump_sum"] == "48600.00"
    assert after["TH"]["outcome"] == "pension" and after["TH"]["amount_due"] == "1826.47"
    assert after["TH"]["totalised_months"] == 204
    assert before["MY"]["outcome"] == after["MY"]["outcome"] == "lump_sum"


def check_law(directory: Path, summary: dict) -> None:
    """The stopped demo's logs hold what the summary says, and ``pel rules show`` and
    ``pel agreement show`` print it from the demo directory."""
    from tests.node.test_cli import run

    for agency, rules in summary["law"]["rules"].items():
        node = Node.open(directory / agency)
        try:
            index, entry = node.log.find(rules["id"])
            record = json.loads(entry)
            assert index == rules["index"] and record["type"] == "rules"
            assert record["body"]["state"] == agency[:2] == record["issuer"][:2]
        finally:
            node.stop()
    code, out, err = run("rules", "show", str(directory), "--state", "MM", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["state"] == "MM"
    assert shown["in_force"]["old_age"]["branch_in_force"]["value"] is False
    code, out, err = run("rules", "show", str(directory), "--state", "TH")
    assert code == 0 and "pension_formula" in out, err
    for agency in ("TH-SSO", "MY-PERKESO", "MM-SSB"):
        code, out, err = run(
            "agreement", "show", str(directory), "--state", agency[:2], "--at", "2027-06-01",
            "--json",
        )  # fmt: skip
        assert code == 0, err
        held = {a["record"]["id"]: a for a in json.loads(out)["agreements"]}
        multilateral = held["demo-agreement-th-my-mm"]
        assert multilateral["in_force"] is True
        assert (
            multilateral["index"]
            == summary["law"]["agreements"]["demo-agreement-th-my-mm"]["indexes"][agency]
        )
    code, out, err = run("agreement", "show", str(directory), "--state", "ID")
    assert code == 0 and "demo-agreement-my-id" in out, err


def _read_json_line(proc: subprocess.Popen[str], timeout: float) -> dict:
    """The summary line the interactive demo prints once everything is witnessed."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    assert box and box[0], f"no summary within {timeout} s"
    return json.loads(box[0])


@pytest.mark.slow
def token_header(directory: Path, agency: str) -> dict[str, str]:
    """The agency's own token, which the demo keeps in its node directory (0600)."""
    return {"Authorization": f"Bearer {(directory / agency / 'token').read_text().strip()}"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_every_node_of_the_interactive_demo(tmp_path: Path, signum: int) -> None:
    directory = tmp_path / "demo"
    proc = subprocess.Popen(
        demo_args(directory, "--json"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        summary = _read_json_line(proc, 120)
        check_summary(summary)
        below = descendants(proc.pid)
        assert set(summary["pids"].values()) <= below
        # While it serves, the sample worker's records are read over HTTP.
        sample = summary["sample_worker"]
        home, host = sample["home"]["agency"], sample["host"]["agency"]
        url = f"{summary['urls'][home]}/v1/records/{home}/{sample['enrolment']['id']}"
        assert httpx.get(url).status_code == 401  # a worker's record: not for anyone
        r = httpx.get(url, headers=token_header(directory, home))
        assert r.status_code == 200
        assert r.json()["record"]["type"] == "enrolment"
        assert r.json()["record"]["pwid"] == sample["pwid"]
        first = sample["contributions"]["ids"][0]
        r = httpx.get(
            f"{summary['urls'][host]}/v1/records/{host}/{first}",
            headers=token_header(directory, host),
        )
        assert r.status_code == 200 and r.json()["integrated"] is True
        assert r.json()["record"]["pwid"] == sample["pwid"]
        # The demo provisioned what an auditor and the agency need: an audit with the
        # auditor token passes, and the home agency's token assembles the bundle.
        home_url, trust = summary["urls"][home], str(directory / "trust.json")
        auditor = (directory / home / "auditor-token").read_text().strip()
        code, out, err = run(
            "audit", home_url, "--state", str(tmp_path / "a"), "--trust", trust, "--token", auditor
        )
        assert code == 0, err
        out_file = str(tmp_path / "bundle.json")
        token = (directory / home / "token").read_text().strip()
        code, out, err = run(
            "bundle",
            sample["pwid"],
            "--trust",
            trust,
            "--url",
            home_url,
            "--token",
            token,
            "--out",
            out_file,
        )
        assert code == 0, err
        code, out, err = run("verify-bundle", out_file, "--trust", trust)
        assert code == 0 and "verified" in out, err
        assert proc.poll() is None  # still serving
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    deadline = time.monotonic() + 10
    while [p for p in below if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)  # signature workers notice their node is gone
    assert [p for p in below if alive(p)] == []
    assert all(refuses(url) for url in summary["urls"].values())
    assert "stopped every node" in proc.stderr.read()  # type: ignore[union-attr]


@pytest.mark.slow
def test_a_node_that_fails_stops_the_others(tmp_path: Path) -> None:
    base = free_port()
    with socket.socket() as taken:  # the second node's port is in use
        try:
            taken.bind(("127.0.0.1", base + 1))
            taken.listen()
        except OSError:
            pass  # someone else holds it: the node fails all the same
        done = run_demo(tmp_path / "demo", "--exit-after", "--base-port", str(base))
    assert done.returncode == 1
    assert "error: the MM-SSB node exited" in done.stderr and "[node_failed]" in done.stderr
    assert "Traceback" not in done.stderr
    assert processes_mentioning(str(tmp_path / "demo")) == []


def test_corridor_filings_put_each_record_in_the_right_log() -> None:
    agencies = list(DEMO_ORDER)
    filings = corridor_filings(agencies, workers=60, months=24, seed=3)
    assert filings.drafts == corridor_filings(agencies, workers=60, months=24, seed=3).drafts
    assert all(filings.drafts[a] for a in agencies)  # every log gets records
    by_id = {(a, d["id"]): d for a, drafts in filings.drafts.items() for d in drafts}
    for agency, drafts in filings.drafts.items():
        for d in drafts:
            validate_record({**d, "issuer": agency}, signed=False)
    for w in filings.workers:
        assert w.home != w.host
        enrolment = by_id[(w.home, w.enrolment)]
        assert enrolment["type"] == "enrolment" and enrolment["pwid"] == w.pwid
        assert w.pwid.startswith(agency_for(w.home).country + "-")
        assert len(w.contributions) >= 12
        for cid in w.contributions:
            c = by_id[(w.host, cid)]
            assert c["pwid"] == w.pwid
            assert c["body"]["currency"] == agency_for(w.host).currency
        for eid in w.entitlements:
            assert by_id[(w.host, eid)]["type"] == "entitlement"
    kinds = {d["type"] for drafts in filings.drafts.values() for d in drafts}
    assert kinds == {"enrolment", "contribution", "entitlement", "amendment", "revocation"}
    text = json.dumps(filings.drafts)
    assert "name" not in text and "national" not in text


def test_not_witnessed_in_time_names_the_log(tmp_path: Path) -> None:
    agencies = list(DEMO_ORDER[:2])
    ports = [free_port(), free_port()]
    demo = setup_federation(tmp_path / "d", agencies, ports=ports, quorum=1)
    assert (tmp_path / "d" / "TH-SSO" / "token").stat().st_mode & 0o777 == 0o600
    node = Node.open(demo.nodes[0].directory)
    urls = {"MM-SSB": "http://127.0.0.1:9"}  # nothing listens there
    try:
        with serve(create_app(node), port=ports[0]) as url, pytest.raises(DemoError) as caught:
            wait_witnessed(demo, {"TH-SSO": 1}, timeout=0.5, urls={"TH-SSO": url, **urls})
    finally:
        node.stop()
    assert caught.value.code == "not_witnessed"
    assert "TH-SSO: 0 of 1 records" in caught.value.message
    assert "MM-SSB: cannot read /v1/node" in caught.value.message
    with pytest.raises(DemoError, match="not empty"):
        setup_federation(tmp_path / "d", agencies, ports=ports, quorum=1)
    with pytest.raises(TrustListError, match="quorum 2 exceeds") as bad:
        setup_federation(tmp_path / "e", agencies, ports=ports, quorum=2)
    assert bad.value.code == "bad_quorum"


def test_summary_table_names_every_state_and_its_witnesses() -> None:
    rows = [
        {
            "state": agency_for(a).state,
            "agency": a,
            "origin": f"{a.lower()}.example/pel",
            "url": "http://127.0.0.1:1",
            "tree_size": 10 + i,
            "witnessed": True,
            "quorum": 2,
            "cosigners": [b for b in DEMO_ORDER[:3] if b != a],
            "mirrored_by": None,
        }
        for i, a in enumerate(DEMO_ORDER[:3])
    ]
    console = Console(record=True, width=200, file=open(os.devnull, "w"))  # noqa: SIM115
    print_summary(console, DemoResult(4.2, rows, 2, None, 33, {}, {"TH-SSO": "http://h:1"}))
    text = console.export_text()
    for row in rows:
        line = next(x for x in text.splitlines() if row["agency"] in x and "│" in x)
        assert row["state"] in line and str(row["tree_size"]) in line and "2/2" in line
        assert "not reported" in line
    assert "mirrors: not reported" in text
    assert "http://h:1/checkpoint" in text and "33 records in 3 logs, all witnessed" in text


def test_mirrors_count_once_the_nodes_report_them(tmp_path: Path) -> None:
    agencies = list(DEMO_ORDER[:3])
    demo = setup_federation(tmp_path / "d", agencies, ports=[1, 2, 3], quorum=1)
    origins = {n.agency: n.origin for n in demo.nodes}
    sizes = {"TH-SSO": 40, "MM-SSB": 7, "MY-PERKESO": 25}

    def info(agency: str, mirrors: dict[str, Any] | None) -> dict[str, Any]:
        others = [a for a in agencies if a != agency]
        body: dict[str, Any] = {
            "agency": agency,
            "tree_size": sizes[agency],
            "pending": 0,
            "witnessing": {
                "size": sizes[agency],
                "cosigners": others,
                "quorum": 1,
                "witnessed": True,
            },
        }
        if mirrors is not None:
            body["mirrors"] = mirrors
        return body

    def mirror(agency: str, size: int, **extra: Any) -> dict[str, Any]:
        return {
            "agency": agency,
            "size": size,
            "verified_at": "t",
            "behind": 0,
            "error": "",
            "flagged": False,
            **extra,
        }

    reports: dict[str, dict[str, Any] | None] = {a: None for a in agencies}

    def handler(request: httpx.Request) -> httpx.Response:
        agency = request.url.host.upper()
        return httpx.Response(200, json=info(agency, reports[agency]))

    urls = {a: f"http://{a.lower()}" for a in agencies}
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        statuses = survey(demo, http, urls)
        assert [st.mirrored_by for st in statuses] == [None, None, None]
        assert all(st.done(sizes[st.node.agency], mirrors=False) for st in statuses)
        # Once reported: MM-SSB mirrors TH-SSO fully; MY-PERKESO is behind on it, and
        # holds MM-SSB's log but flagged it.
        reports["MM-SSB"] = {origins["TH-SSO"]: mirror("TH-SSO", 40)}
        reports["MY-PERKESO"] = {
            origins["TH-SSO"]: mirror("TH-SSO", 39, behind=1),
            origins["MM-SSB"]: mirror("MM-SSB", 7, flagged=True),
        }
        th, mm, my = survey(demo, http, urls)
        assert th.mirrored_by == ["MM-SSB"] and mm.mirrored_by == [] and my.mirrored_by == []
        assert not th.done(40, mirrors=True)  # MY-PERKESO's mirror is one entry behind
        assert summary_rows([th, mm, my])[0]["mirrored_by"] == ["MM-SSB"]
        reports["MY-PERKESO"][origins["TH-SSO"]] = mirror("TH-SSO", 40)  # type: ignore[index]
        th = survey(demo, http, urls)[0]
        assert th.mirrored_by == ["MM-SSB", "MY-PERKESO"] and th.done(40, mirrors=True)
