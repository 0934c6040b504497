"""``pel submit`` and the Python client with several batches in flight: every good row
appended once, corrections after what they correct, refused rows reported in line order,
the same idempotency and exit codes as one batch at a time."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from pel.node.agency_node import Node
from pel.node.errors import PeerError
from pel.node.filings.reader import count_rows, read_filing
from pel.node.filings.submit import RawJSON, submit_rows
from pel.node.peers.client import LogClient
from tests import factories as f
from tests.node.test_cli import node_dir, run, served  # noqa: F401 (fixtures)


class CountingTransport(httpx.HTTPTransport):
    """Real HTTP, remembering the most requests that were on their way at once."""

    def __init__(self) -> None:
        super().__init__()
        self.now = self.most = self.requests = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.now += 1
            self.requests += 1
            self.most = max(self.most, self.now)
        try:
            return super().handle_request(request)
        finally:
            with self._lock:
                self.now -= 1


def _filing(tmp_path: Path) -> tuple[Path, list[dict], dict[int, str]]:
    """200 good rows (corrections among them, each after what it corrects), and bad rows
    at known lines with the codes the node gives them."""
    good: list[dict] = []
    paid: list[dict] = []
    for i in range(180):
        paid.append(f.contribution(issuer="TH-SSO", body={"currency": "THB"}))
        good.append(paid[-1])
        if i % 9 == 4:  # a correction of a record some batches back
            good.append(f.amendment(paid[max(0, i - 30 + (i % 5) * 7)], issuer="TH-SSO"))
    for rec in good:
        rec.pop("issuer", None)
        rec.pop("sig", None)
    lines = [json.dumps(r) for r in good]
    bad = {
        5: ("{not json", "bad_json"),
        40: (json.dumps({**good[0], "id": "x-1", "body": {**good[0]["body"], "period": "1"}}), ""),
        111: (json.dumps({**good[1], "type": "pension"}), "unknown_type"),
        150: (json.dumps(f.amendment({**good[0], "id": "nowhere"}, issuer="TH-SSO")), ""),
    }
    for line in sorted(bad):
        lines.insert(line - 1, bad[line][0])
    path = tmp_path / "filing.jsonl"
    path.write_text("\n".join(lines) + "\n")
    codes = {line: code for line, (_, code) in bad.items()}
    codes[40], codes[150] = "bad_period", "unknown_target"
    return path, good, codes


def test_batches_in_flight_append_everything_once_and_report_in_line_order(
    served: tuple[str, Node, dict],  # noqa: F811
    tmp_path: Path,
) -> None:
    url, node, info = served
    path, good, codes = _filing(tmp_path)
    transport = CountingTransport()
    seen: list[int] = []
    with LogClient(url, token=info["token"], transport=transport) as client:
        report = client.submit_filing(
            read_filing(path, raw=True), batch_size=7, in_flight=4, progress=seen.append
        )
    assert transport.most > 1, "no two batches were ever in flight together"
    assert report.appended == len(good) and report.duplicates == 0
    assert [r["line"] for r in report.refused] == sorted(codes)
    assert {r["line"]: r["code"] for r in report.refused} == codes
    assert sum(seen) == len(good) + len(codes)
    assert node.log.state()[0] == len(good)
    # Every correction is in the log after the record it corrects.
    index = {json.loads(node.log.entry(i))["id"]: i for i in range(len(good))}
    for rec in good:
        if rec["type"] == "amendment":
            assert index[rec["body"]["target"]["id"]] < index[rec["id"]]
    # Again, through the CLI: nothing appended twice, the same rows refused, exit 2.
    out_file = tmp_path / "refused.jsonl"
    code, out, err = run(
        "submit", url, str(path), "--token", info["token"], "--batch", "5",
        "--in-flight", "3", "--report", str(out_file),
    )  # fmt: skip
    assert code == 2, err
    assert f"0 appended, {len(good)} already in the log, {len(codes)} refused" in out
    assert [json.loads(x)["line"] for x in out_file.read_text().splitlines()] == sorted(codes)
    assert [int(x.split(":")[0].removeprefix("line ")) for x in err.splitlines()] == sorted(codes)
    assert node.log.state()[0] == len(good)


def test_one_at_a_time_gives_the_same_report(
    served: tuple[str, Node, dict],  # noqa: F811
    tmp_path: Path,
) -> None:
    url, _, info = served
    path, good, codes = _filing(tmp_path)
    with LogClient(url, token=info["token"]) as client:
        report = submit_rows(client, read_filing(path), batch_size=11, in_flight=1)
    assert report.appended == len(good)
    assert {r["line"]: r["code"] for r in report.refused} == codes


def test_a_refused_token_stops_the_submission_with_exit_1(
    served: tuple[str, Node, dict],  # noqa: F811
    tmp_path: Path,
) -> None:
    url, node, _ = served
    path, _, _ = _filing(tmp_path)
    with LogClient(url, token="pel_wrong") as client, pytest.raises(PeerError) as caught:
        submit_rows(client, read_filing(path, raw=True), batch_size=5, in_flight=4)
    assert caught.value.code == "unauthorized"
    code, _, err = run("submit", url, str(path), "--token", "pel_wrong", "--in-flight", "4")
    assert code == 1 and "[unauthorized]" in err and "Traceback" not in err
    assert node.log.state()[0] == 0


def test_raw_rows_are_sent_as_they_are_read(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n\n  {"b":2}  \n')
    assert list(read_filing(path, raw=True)) == [
        (1, RawJSON(b'{"a": 1}')),
        (3, RawJSON(b'{"b":2}')),
    ]
    assert count_rows(path) == 2
    csv = tmp_path / "f.csv"
    csv.write_text("type,id\ncontribution,a\n\ncontribution,b\n")
    assert count_rows(csv) == len(list(read_filing(csv))) == 2
