"""``/metrics``: the node's Prometheus metrics say what it does, and move as it works.

A small demo federation runs as real processes; each node's ``/metrics`` must then show
records appended, checkpoints published, witness cosignatures gathered and every other
member's log mirrored, and those figures must move once more records are filed.
A single node in-process shows refusals by code, batches, proofs and tiles.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pel.api.app import create_app
from pel.node.agency_node import Node
from pel.node.demo.synth import synth_drafts
from tests import factories as f
from tests.node.test_cli import run
from tests.node.test_demo import ROOT, _read_json_line, demo_args

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a ``/metrics`` answer, keyed by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def has(samples: Samples, name: str, **labels: str) -> bool:
    want = set(labels.items())
    return any(n == name and want <= ls for (n, ls) in samples)


def scrape(url: str) -> Samples:
    r = httpx.get(url + "/metrics", timeout=10)
    assert r.status_code == 200
    return parse(r.text)


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_metrics_after_a_demo_show_the_federation_at_work(tmp_path: Path) -> None:
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
        logs = {row["agency"]: row for row in summary["logs"]}
        urls = summary["urls"]
        origins = {a: row["origin"] for a, row in logs.items()}
        before = {a: scrape(urls[a]) for a in logs}
        for agency, samples in before.items():
            origin = origins[agency]
            assert (
                value(samples, "pel_records_appended_total", log=origin)
                == (logs[agency]["tree_size"])
            )
            assert value(samples, "pel_checkpoints_published_total", log=origin) > 0
            assert value(samples, "pel_checkpoint_size", log=origin) == logs[agency]["tree_size"]
            assert value(samples, "pel_witness_cosignatures_total", log=origin) >= summary["quorum"]
            assert value(samples, "pel_checkpoint_cosigners", log=origin) >= summary["quorum"]
            assert value(samples, "pel_batch_seconds_count", log=origin) > 0
            assert value(samples, "pel_commit_seconds_count", log=origin) > 0
            assert has(samples, "pel_startup_check_seconds", log=origin)
            for other, other_origin in origins.items():
                if other == agency:
                    continue
                assert value(samples, "pel_mirror_size", origin=other_origin) > 0
                assert value(samples, "pel_mirror_entries_verified_total", origin=other_origin) > 0
                assert has(samples, "pel_mirror_lag_entries", origin=other_origin)
                assert value(samples, "pel_mirror_age_seconds", origin=other_origin) > 0
                assert value(samples, "pel_witness_request_seconds_count", witness=other) > 0

        # More records filed at one node: its figures and its mirrors' move.
        agency = next(iter(logs))
        origin, added = origins[agency], 40
        filing = tmp_path / "more.jsonl"
        filing.write_text(
            "".join(json.dumps(d) + "\n" for d in synth_drafts(agency, added, seed=424242))
        )
        token = (directory / agency / "token").read_text().strip()
        code, _, err = run("submit", urls[agency], str(filing), "--token", token)
        assert code == 0, err
        size = logs[agency]["tree_size"] + added
        others = [a for a in logs if a != agency]

        def moved() -> bool:
            ours = scrape(urls[agency])
            witnessed = httpx.get(urls[agency] + "/v1/node").json()["witnessing"]
            return (
                value(ours, "pel_checkpoint_size", log=origin) == size
                and witnessed["size"] == size
                and witnessed["witnessed"]
                and all(
                    value(scrape(urls[o]), "pel_mirror_size", origin=origin) == size for o in others
                )
            )

        wait_until("the new records witnessed and mirrored", moved)
        after = scrape(urls[agency])
        was = before[agency]
        assert value(after, "pel_records_appended_total", log=origin) == size
        for name in (
            "pel_checkpoints_published_total",
            "pel_witness_cosignatures_total",
            "pel_batch_seconds_count",
        ):
            assert value(after, name, log=origin) > value(was, name, log=origin), name
        for o in others:
            theirs = scrape(urls[o])
            assert value(theirs, "pel_mirror_entries_verified_total", origin=origin) == (
                value(before[o], "pel_mirror_entries_verified_total", origin=origin) + added
            )
            assert value(theirs, "pel_mirror_lag_entries", origin=origin) == 0
            assert value(theirs, "pel_mirror_age_seconds", origin=origin) != value(
                before[o], "pel_mirror_age_seconds", origin=origin
            )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_metrics_count_refusals_by_code_batches_proofs_and_tiles(tmp_path: Path) -> None:
    code, out, err = run(
        "init", str(tmp_path / "n"), "--agency", "TH-SSO", "--origin", "sso.go.th/pel", "--json"
    )
    assert code == 0, err
    token = json.loads(out)["token"]
    node = Node.open(tmp_path / "n")
    origin = node.settings.origin
    try:
        with TestClient(create_app(node)) as client:
            auth = {"Authorization": f"Bearer {token}"}
            was = parse(client.get("/metrics").text)

            def draft(**body: str) -> dict:
                d = f.contribution(body={"currency": "THB", **body})
                d.pop("issuer", None)
                d.pop("sig", None)
                return d

            good = [draft() for _ in range(5)]
            r = client.post("/v1/records", json=good, params={"wait": "true"}, headers=auth)
            assert r.status_code == 200, r.text
            r = client.post("/v1/records", json=[draft(period="2026-13"), draft()], headers=auth)
            assert r.status_code == 422
            assert client.get("/v1/proof/inclusion?index=1&tree_size=5").status_code == 200
            assert client.get("/tile/0/000.p/5").status_code == 200
            assert client.get("/tile/entries/000.p/5", headers=auth).status_code == 200
            now = parse(client.get("/metrics").text)
    finally:
        node.stop()

    def moved(name: str, **labels: str) -> float:
        return value(now, name, **labels) - value(was, name, **labels)

    assert moved("pel_records_appended_total", log=origin) == 5
    assert moved("pel_records_refused_total", log=origin, code="bad_period") == 1
    assert moved("pel_batch_seconds_count", log=origin) == 1  # the refused batch is not timed
    assert moved("pel_batch_records_sum", log=origin) == 5
    assert moved("pel_proofs_served_total", kind="inclusion") == 1
    assert moved("pel_tiles_served_total", kind="hash") == 1
    assert moved("pel_tiles_served_total", kind="entries") == 1
    assert value(now, "pel_checkpoint_size", log=origin) == 5
    assert value(now, "pel_pending_entries", log=origin) == 0
    assert moved("pel_checkpoints_published_total", log=origin) >= 1


def test_the_dashboard_asks_only_for_metrics_a_node_serves() -> None:
    import re

    from prometheus_client import REGISTRY

    from pel.node import metrics

    metrics.record_audit_progress("entries", 10, 100, 2048)
    served = {s.name for family in REGISTRY.collect() for s in family.samples}
    served |= {family.name for family in REGISTRY.collect()}  # families with no sample yet
    dashboard = json.loads((ROOT / "docs" / "grafana" / "pel.json").read_text())
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bpel_[a-z_]+", target["expr"])
    }
    assert len(dashboard["panels"]) >= 12
    missing = {
        n
        for n in asked
        if n not in served and n.removesuffix("_total").removesuffix("_bucket") not in served
    }
    assert not missing, missing
    assert value(parse(generate()), "pel_audit_done", phase="entries") == 10
    assert value(parse(generate()), "pel_audit_total", phase="entries") == 100


def generate() -> str:
    from prometheus_client import generate_latest

    return generate_latest().decode()


def test_a_new_checkpoint_is_announced_and_timed(tmp_path: Path) -> None:
    from pel.node.serving.sequencer import Sequencer

    assert (
        run("init", str(tmp_path / "n"), "--agency", "TH-SSO", "--origin", "sso.go.th/pel")[0] == 0
    )
    node = Node.open(tmp_path / "n")
    origin = node.settings.origin
    try:
        was = parse(generate())
        node.submit([{**f.contribution(body={"currency": "THB"}), "issuer": "TH-SSO"}])
        seq = Sequencer(node.log)
        announced: list[int] = []
        seq.on_publish = lambda: announced.append(seq.size)
        assert seq.sequence_once() is not None
        assert seq.sequence_once() is None  # nothing new: no second announcement
        assert announced == [1]
        assert seq.published_at is not None
        now = parse(generate())
    finally:
        node.stop()
    assert (
        value(now, "pel_commit_seconds_count", log=origin)
        - value(was, "pel_commit_seconds_count", log=origin)
        == 1
    )
    assert (
        value(now, "pel_checkpoints_published_total", log=origin)
        - value(was, "pel_checkpoints_published_total", log=origin)
        == 1
    )


def test_the_dashboard_picture_evaluates_the_queries_as_prometheus_does() -> None:
    from bench.dashboard import evaluate

    def sample(**values: float) -> dict:
        out = {}
        for key, v in values.items():
            name, _, le = key.partition("__")
            labels = {"log": "a"} | ({"le": le.replace("_", ".")} if le else {})
            out[(name, frozenset(labels.items()))] = v
        return out

    times = [0.0, 1.0, 2.0]
    samples = [
        sample(c_total=0, h_bucket__0_1=0, h_bucket__1_0=0, h_bucket__inf=0),
        sample(c_total=10, h_bucket__0_1=5, h_bucket__1_0=10, h_bucket__inf=10),
        sample(c_total=30, h_bucket__0_1=10, h_bucket__1_0=20, h_bucket__inf=20),
    ]
    for s in samples:  # "+Inf", as the text format writes it
        for key in [k for k in s if ("le", "inf") in k[1]]:
            s[(key[0], frozenset({("log", "a"), ("le", "+Inf")}))] = s.pop(key)
    rates = evaluate("sum by (log) (rate(c_total[1m]))", "{{log}}", times, samples, 1)
    assert rates == {"a": [0.0, 10.0, 20.0]}
    p50 = evaluate(
        "histogram_quantile(0.5, sum by (le, log) (rate(h_bucket[1m])))", "p50", times, samples, 2
    )
    # Over the whole window: 10 of 20 observations at or under 0.1 s: the median is 0.1 s.
    assert p50["p50"][2] == 0.1
    assert evaluate("c_total", "{{log}}", times, samples, 1) == {"a": [0.0, 10.0, 30.0]}


def test_an_audit_serves_its_progress_on_the_metrics_port() -> None:
    import socket

    from pel.node import metrics
    from pel.node.cli.verify import serve_metrics
    from pel.node.errors import ConfigError
    from tests.conftest import free_port

    port = free_port()
    server = serve_metrics(port)
    try:
        metrics.record_audit_progress("tiles", 3, 7, 4096)
        samples = parse(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
    finally:
        server.shutdown()
        server.server_close()
    assert value(samples, "pel_audit_done", phase="tiles") == 3
    assert value(samples, "pel_audit_total", phase="tiles") == 7
    assert value(samples, "pel_audit_downloaded_bytes") == 4096
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(ConfigError) as caught:
            serve_metrics(holder.getsockname()[1])
    assert caught.value.code == "port_in_use"
