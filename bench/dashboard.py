"""A picture of the Grafana dashboard (docs/grafana/pel.json) drawn from a live node.

Grafana is not part of this machine, so this draws the dashboard's own panels itself:
a demo federation (``pel demo``, four member states) runs under a steady load — records
filed (a few refused), proofs and tiles read — while one node's ``/metrics`` is read
every second. Each panel's PromQL queries are then evaluated over those samples by the
small evaluator below (the three query shapes the dashboard uses: a gauge, ``sum by
(…) (rate(…))`` and ``histogram_quantile(q, sum by (le, …) (rate(…_bucket)))``), with
rate windows shortened to ``--window`` seconds for a run of a minute or two, and drawn
as SVG line charts in a page that headless Chromium saves as a PNG.

    python -m bench.dashboard [--seconds S] [--window W] [--out docs/grafana/pel.png]
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.common import ROOT, workdir
from bench.latency import _start_demo
from pel.node.demo.synth import synth_drafts

DASHBOARD = ROOT / "docs" / "grafana" / "pel.json"
CHROMIUM = "/usr/bin/chromium"
Labels = frozenset[tuple[str, str]]
Sample = dict[tuple[str, Labels], float]
Series = dict[str, list[float | None]]

_RATE = re.compile(r"sum by \(([\w, ]+)\) \(rate\((\w+)\[\w+\]\)\)")
_QUANTILE = re.compile(
    r"histogram_quantile\(([\d.]+), sum by \(([\w, ]+)\) \(rate\((\w+)\[\w+\]\)\)\)"
)
_GAUGE = re.compile(r"(\w+)")


def _parse(text: str) -> Sample:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _legend(fmt: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def _rates(times: list[float], samples: list[Sample], name: str, window: int) -> list[Sample]:
    """Per-second increase of every series of ``name`` over ``window`` samples back."""
    out: list[Sample] = []
    for i in range(len(samples)):
        j = max(0, i - window)
        now, then = samples[i], samples[j]
        dt = times[i] - times[j]
        out.append(
            {
                key: (v - then.get(key, 0.0)) / dt if dt > 0 else 0.0
                for key, v in now.items()
                if key[0] == name
            }
        )
    return out


def _grouped(sample: Sample, by: list[str]) -> dict[tuple[str, ...], float]:
    groups: dict[tuple[str, ...], float] = defaultdict(float)
    for (_, labels), v in sample.items():
        d = dict(labels)
        groups[tuple(d.get(b, "") for b in by)] += v
    return groups


def _quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus's histogram_quantile: linear interpolation within the bucket."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for b in bounds:
        if buckets[b] >= rank:
            if math.isinf(b):
                return lower
            return lower + (b - lower) * ((rank - below) / (buckets[b] - below or 1))
        lower, below = b, buckets[b]
    return lower


def evaluate(expr: str, legend: str, times: list[float], samples: list[Sample], window: int):
    """The series one dashboard query gives over the samples: {legend: values}."""
    series: Series = {}
    n = len(samples)
    if m := _QUANTILE.fullmatch(expr):
        q, by, name = float(m.group(1)), [b.strip() for b in m.group(2).split(",")], m.group(3)
        rest = [b for b in by if b != "le"]
        for i, sample in enumerate(_rates(times, samples, name, window)):
            per: dict[tuple[str, ...], dict[float, float]] = defaultdict(dict)
            for (_, labels), v in sample.items():
                d = dict(labels)
                per[tuple(d.get(b, "") for b in rest)][float(d["le"])] = v
            for key, buckets in per.items():
                label = _legend(legend, dict(zip(rest, key, strict=True)))
                series.setdefault(label, [None] * n)[i] = _quantile(q, buckets)
        return series
    if m := _RATE.fullmatch(expr):
        by, name = [b.strip() for b in m.group(1).split(",")], m.group(2)
        for i, sample in enumerate(_rates(times, samples, name, window)):
            for key, v in _grouped(sample, by).items():
                label = _legend(legend, dict(zip(by, key, strict=True)))
                series.setdefault(label, [None] * n)[i] = v
        return series
    if m := _GAUGE.fullmatch(expr):
        for i, sample in enumerate(samples):
            for (name, labels), v in sample.items():
                if name == m.group(1):
                    series.setdefault(_legend(legend, dict(labels)), [None] * n)[i] = v
        return series
    raise ValueError(f"a query shape this picture cannot draw: {expr}")


COLOURS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a"]


def _fmt(v: float, unit: str) -> str:
    if unit == "s":
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.1f} s"
    if abs(v) >= 1000:
        return f"{v / 1000:.1f}k"
    return f"{v:.0f}" if v >= 10 or v == int(v) else f"{v:.2f}"


def _panel_svg(panel: dict, series: Series, seconds: float, width: int = 460, height: int = 190):
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max(values, default=1.0) or 1.0
    top *= 1.1
    left, plot_w, plot_h = 52, width - 60, height - 30
    parts = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for k in range(5):
        y = 6 + plot_h * k / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y}" y2="{y}" class="grid"/>')
        tick = _fmt(top * (4 - k) / 4, unit) + ("/s" if unit == "ops" else "")
        parts.append(
            f'<text x="{left - 4}" y="{y + 4}" class="tick" text-anchor="end">{tick}</text>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 4}" class="tick">-{seconds:.0f} s</text>'
        f'<text x="{left + plot_w}" y="{height - 4}" class="tick" text-anchor="end">now</text>'
    )
    for c, (_, vs) in enumerate(sorted(series.items())):
        n = len(vs)
        points, runs = [], []
        for i, v in enumerate(vs):
            if v is None:
                if points:
                    runs.append(points)
                points = []
                continue
            x = left + plot_w * i / max(1, n - 1)
            y = 6 + plot_h * (1 - v / top)
            points.append(f"{x:.1f},{y:.1f}")
        if points:
            runs.append(points)
        for run in runs:
            parts.append(
                f'<polyline points="{" ".join(run)}" fill="none" '
                f'stroke="{COLOURS[c % len(COLOURS)]}" stroke-width="1.6"/>'
            )
    parts.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{COLOURS[c % len(COLOURS)]}"></i>{html.escape(name)}</span>'
        for c, name in enumerate(sorted(series))
    )
    return "".join(parts), legend


def page(dashboard: dict, times: list[float], samples: list[Sample], window: int) -> str:
    seconds = times[-1] - times[0] if times else 0.0
    cells = []
    for panel in dashboard["panels"]:
        series: Series = {}
        for target in panel["targets"]:
            series.update(evaluate(target["expr"], target["legendFormat"], times, samples, window))
        svg, legend = _panel_svg(panel, series, seconds)
        empty = "" if series else '<p class="none">no data from this node</p>'
        cells.append(
            f'<div class="panel"><h3>{html.escape(panel["title"])}</h3>{svg}{empty}'
            f'<div class="legend">{legend}</div></div>'
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ background:#111217; color:#ccccdc; font:13px system-ui,sans-serif; margin:12px; }}
h1 {{ font-size:17px; margin:4px 0 10px; }} .sub {{ color:#8e8e9e; font-size:12px; }}
.grid {{ stroke:#2c2e36; }} .tick {{ fill:#8e8e9e; font-size:10px; }}
main {{ display:grid; grid-template-columns:repeat(3, 470px); gap:8px; }}
.panel {{ background:#181b1f; border:1px solid #2c2e36; border-radius:3px; padding:6px; }}
h3 {{ font-size:13px; margin:0 0 4px; font-weight:500; }}
.legend span {{ margin-right:10px; font-size:11px; white-space:nowrap; }}
.legend i {{ display:inline-block; width:12px; height:3px; margin:0 4px 3px 0; }}
.none {{ color:#8e8e9e; margin:0; }}
</style></head><body><h1>{html.escape(dashboard["title"])}
<span class="sub"> — panels of docs/grafana/pel.json drawn from {len(samples)} scrapes of one
demo node's /metrics, one a second (rates over {window} s)</span></h1>
<main>{"".join(cells)}</main></body></html>"""


def run_load(directory: Path, summary: dict, stop: threading.Event) -> None:
    """Records filed (one in fifty refused), proofs and tiles read, until ``stop``."""
    agency = summary["logs"][0]["agency"]
    url = summary["urls"][agency]
    token = (directory / agency / "token").read_text().strip()
    drafts = synth_drafts(agency, 10**7, seed=4242)
    with httpx.Client(base_url=url, timeout=30) as c:
        n = 0
        while not stop.is_set():
            batch = [next(drafts) for _ in range(100)]
            if n % 5 == 0:
                batch[0] = {**batch[0], "body": {**batch[0]["body"], "period": "2026-13"}}
            headers = {"Authorization": f"Bearer {token}"}
            r = c.post("/v1/records", json=batch, headers=headers)
            if r.status_code == 422:
                c.post("/v1/records", json=batch[1:], headers=headers)
            size = int(c.get("/checkpoint").text.split("\n")[1])
            for i in range(0, size, max(1, size // 20)):
                c.get("/v1/proof/inclusion", params={"index": i, "tree_size": size})
            c.get("/tile/0/000")
            c.get("/tile/entries/000")
            n += 1
            time.sleep(0.2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=int, default=90, help="how long to sample")
    p.add_argument("--window", type=int, default=10, help="rate window, in samples (seconds)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "grafana" / "pel.png")
    args = p.parse_args()
    dashboard = json.loads(DASHBOARD.read_text())
    times: list[float] = []
    samples: list[Sample] = []
    with workdir("pel-dashboard-") as d:
        proc, summary = _start_demo(d / "demo", 4)
        stop = threading.Event()
        load = threading.Thread(target=run_load, args=(d / "demo", summary, stop), daemon=True)
        try:
            url = summary["urls"][summary["logs"][0]["agency"]]
            load.start()
            start = time.monotonic()
            while time.monotonic() - start < args.seconds:
                times.append(time.monotonic() - start)
                samples.append(_parse(httpx.get(url + "/metrics", timeout=10).text))
                time.sleep(max(0.0, start + len(times) - time.monotonic()))
        finally:
            stop.set()
            load.join(30)
            proc.terminate()
            proc.wait(30)
        html_file = d / "dashboard.html"
        html_file.write_text(page(dashboard, times, samples, args.window))
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            tab = browser.new_page(viewport={"width": 1450, "height": 900})
            tab.goto(html_file.as_uri())
            tab.screenshot(path=str(args.out), full_page=True)
            browser.close()
    print(f"wrote {args.out} from {len(samples)} scrapes")


if __name__ == "__main__":
    main()
