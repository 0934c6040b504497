"""The node's Prometheus metrics: every metric object in one place, updated where things happen.

Counters and histograms are module-level objects in ``prometheus_client``'s default
registry, so ``/metrics`` (and ``pel audit --metrics-port``) serve them with the
process's own metrics. What is a state rather than an event — entries waiting for a
checkpoint, the latest checkpoint's size, age and cosigners, how far each mirror is
behind — is read when Prometheus scrapes, from every node started in this process
(:func:`watch` / :func:`unwatch`), so it is never stale.

Label values are bounded sets: a log's origin, a federation member's agency, an
error code, a proof or tile kind. No worker identifier ever becomes a label.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from pel.node.agency_node import Node

# Seconds: from a small batch on a fast disk to a big one on a slow one.
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

RECORDS_APPENDED = Counter(
    "pel_records_appended", "Records appended to this node's log (new entries).", ["log"]
)
RECORDS_DUPLICATE = Counter(
    "pel_records_duplicate",
    "Records submitted again and answered with the entry already in the log.",
    ["log"],
)
RECORDS_REFUSED = Counter(
    "pel_records_refused", "Submitted records refused, by error code.", ["log", "code"]
)
BATCH_SECONDS = Histogram(
    "pel_batch_seconds",
    "Time to validate, sign and append one submitted batch (all or nothing).",
    ["log"],
    buckets=_LATENCY,
)
BATCH_RECORDS = Histogram(
    "pel_batch_records",
    "Records per submitted batch.",
    ["log"],
    buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
)
COMMIT_SECONDS = Histogram(
    "pel_commit_seconds",
    "Time to integrate waiting entries and publish one signed checkpoint.",
    ["log"],
    buckets=_LATENCY,
)
CHECKPOINTS = Counter("pel_checkpoints_published", "Signed checkpoints published.", ["log"])
COSIGNATURES = Counter(
    "pel_witness_cosignatures",
    "Witness cosignatures gathered for this log's checkpoints, by witness.",
    ["log", "witness"],
)
WITNESS_SECONDS = Histogram(
    "pel_witness_request_seconds",
    "Time a witness took to answer add-checkpoint, by witness.",
    ["log", "witness"],
    buckets=_LATENCY,
)
WITNESS_FAILURES = Counter(
    "pel_witness_failures",
    "add-checkpoint requests that brought no cosignature (unreachable, refused, bad).",
    ["log", "witness"],
)
MIRROR_ENTRIES = Counter(
    "pel_mirror_entries_verified",
    "Entries of other members' logs verified and stored by this node's mirror.",
    ["origin"],
)
PROOFS_SERVED = Counter("pel_proofs_served", "Proofs served, by kind.", ["kind"])
TILES_SERVED = Counter(
    "pel_tiles_served", "Tiles and entry bundles served, by kind (hash, entries).", ["kind"]
)
STARTUP_CHECK_SECONDS = Gauge(
    "pel_startup_check_seconds",
    "How long the start-up check of the stored log took (full: every entry rehashed).",
    ["log", "mode"],
)
STARTUP_CHECK_ENTRIES = Gauge(
    "pel_startup_check_entries", "Entries the start-up check covered.", ["log"]
)
AUDIT_DONE = Gauge(
    "pel_audit_done", "Audit progress: items checked in the current phase.", ["phase"]
)
AUDIT_TOTAL = Gauge(
    "pel_audit_total", "Audit progress: items to check in the current phase.", ["phase"]
)
AUDIT_BYTES = Gauge("pel_audit_downloaded_bytes", "Bytes the audit downloaded so far.")


def record_audit_progress(phase: str, done: int, total: int | None, downloaded: int) -> None:
    """The audit's progress callback's figures, as gauges."""
    AUDIT_DONE.labels(phase).set(done)
    if total is not None:
        AUDIT_TOTAL.labels(phase).set(total)
    AUDIT_BYTES.set(downloaded)


class _NodeStates(Collector):
    """States of every watched node, read at scrape time."""

    def __init__(self) -> None:
        self._nodes: list[Node] = []
        self._lock = threading.Lock()

    def add(self, node: Node) -> None:
        with self._lock:
            if node not in self._nodes:
                self._nodes.append(node)

    def remove(self, node: Node) -> None:
        with self._lock:
            if node in self._nodes:
                self._nodes.remove(node)

    def describe(self) -> Iterator[Metric]:
        # Known names, so the registry checks them once instead of collecting to learn them.
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        with self._lock:
            nodes = list(self._nodes)
        for node in nodes:
            try:
                self._read(node, *families)
            except Exception:  # a node stopping under the scrape: it is left out
                continue
        return iter(families)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "pel_pending_entries", "Entries appended, not yet in a checkpoint.", labels=["log"]
            ),
            GaugeMetricFamily(
                "pel_checkpoint_size", "Tree size of the latest checkpoint.", labels=["log"]
            ),
            GaugeMetricFamily(
                "pel_checkpoint_age_seconds",
                "Seconds since this process last published or found a new checkpoint.",
                labels=["log"],
            ),
            GaugeMetricFamily(
                "pel_checkpoint_cosigners",
                "Witnesses whose cosignatures the latest checkpoint carries.",
                labels=["log"],
            ),
            GaugeMetricFamily(
                "pel_witness_quorum", "Cosignatures the trust list requires.", labels=["log"]
            ),
            GaugeMetricFamily(
                "pel_mirror_size",
                "Entries of a member's log verified by this mirror.",
                labels=["origin"],
            ),
            GaugeMetricFamily(
                "pel_mirror_lag_entries",
                "Entries a member's log has published that this mirror has not verified yet.",
                labels=["origin"],
            ),
            GaugeMetricFamily(
                "pel_mirror_age_seconds",
                "Seconds since this mirror last verified a checkpoint of a member's log.",
                labels=["origin"],
            ),
        )

    @staticmethod
    def _read(node: Node, *families: GaugeMetricFamily) -> None:
        pending, size, age, cosigners, quorum, m_size, m_lag, m_age = families
        origin = node.settings.origin
        next_index, tree_size = node.log.state()
        pending.add_metric([origin], next_index - tree_size)
        size.add_metric([origin], tree_size)
        sequencer = node.sequencer
        if sequencer is not None and sequencer.published_at is not None:
            age.add_metric([origin], time.monotonic() - sequencer.published_at)
        if node.trust_list is not None:
            witnessed = node.witnessed()
            cosigners.add_metric([origin], len(witnessed["cosigners"]))
            quorum.add_metric([origin], witnessed["quorum"])
        now = time.time()
        mirrors: dict[str, Any] = node.mirror_status()["mirrors"] if node.trust_list else {}
        verified_at = {st.origin: st.verified_at for st in node.mirrors.states()}
        for other, m in mirrors.items():
            m_size.add_metric([other], m["size"])
            if m["behind"] is not None:
                m_lag.add_metric([other], m["behind"])
            when = verified_at.get(other)
            if when is not None:
                stamp = when.timestamp() if when.tzinfo else when.replace(tzinfo=dt.UTC).timestamp()
                m_age.add_metric([other], max(0.0, now - stamp))


_STATES = _NodeStates()
REGISTRY.register(_STATES)


def watch(node: Node) -> None:
    """Report ``node``'s states (pending entries, checkpoint, mirrors) at each scrape."""
    _STATES.add(node)


def unwatch(node: Node) -> None:
    """Stop reporting ``node`` (it is stopping)."""
    _STATES.remove(node)
