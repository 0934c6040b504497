"""The offline verifier page decides like ``pel entitle``: the same figures, state by
state, from the same bundle (a cross-border career over three real nodes), and draws
the career on a time line."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from pel.ledger.bundles.bundle import merge_bundles
from pel.node.workers.bundles import build_part
from tests.node import test_bundle_cli as kit
from tests.node.decision_kit import career
from tests.node.test_cli import run
from tests.node.test_mirror_bundle_parts import mirror
from tests.web.test_pages import browser, page, verify_file  # noqa: F401 (fixtures)

trio = kit.trio
Trio = kit.Trio


def _same(cli: Any, shown: str) -> bool:
    if isinstance(cli, bool):
        return shown == ("true" if cli else "false")
    if isinstance(cli, int):
        return shown == str(cli)
    if "/" in cli or "/" in shown:
        return cli == shown
    return Decimal(cli) == Decimal(shown)


def _page_figures(pg: Any) -> dict[str, dict[str, str]]:
    return pg.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("section.decision")].map(s =>
            [s.dataset.state, Object.fromEntries([...s.querySelectorAll("tr[data-figure]")].map(
                r => [r.dataset.figure, r.querySelector("td.value").dataset.value]))]))"""
    )


def _cli(bundle: Path, trust: Path, at: str) -> dict[str, Any]:
    code, out, err = run("entitle", str(bundle), "--trust", str(trust), "--at", at, "--json")
    assert code == 0, err
    return json.loads(out)


def test_the_page_decides_like_pel_entitle(trio: Trio, page: Any, tmp_path: Path) -> None:  # noqa: F811
    career(trio)
    for of in ("MM-SSB", "MY-PERKESO"):
        mirror(trio, "TH-SSO", of)
    parts = [build_part(n, kit.PWID).bundle for n in trio.nodes.values()]
    data = merge_bundles(parts, trio.trust_list).to_bytes()
    path = tmp_path / "bundle.json"
    path.write_bytes(data)
    html = tmp_path / "verify.html"
    code, _, err = run("web", "verifier", "--trust", str(trio.trust_file), "--out", str(html))
    assert code == 0, err
    page.goto(html.as_uri())
    for at in ("2040-01-01", "2026-12-31"):  # with the agreement in force, and before
        page.fill("#decision-at", at)
        status, text = verify_file(page, data)
        assert status == "valid", text
        page.wait_for_selector("section.decision")
        shown = _page_figures(page)
        decision = _cli(path, trio.trust_file, at)
        assert sorted(shown) == [s["state"] for s in decision["states"]] == ["MY", "TH"]
        for s in decision["states"]:
            want = {k: v["value"] for k, v in s["figures"].items()}
            assert set(shown[s["state"]]) == set(want), s["state"]
            for name, value in want.items():
                assert _same(value, shown[s["state"]][name]), (at, s["state"], name, value)
            outcome = page.get_attribute(
                f"section.decision[data-state={s['state']}]", "data-outcome"
            )
            assert outcome == s["outcome"]
    # The worked figures, as the page shows them (tests/node/decision_kit.py).
    page.fill("#decision-at", "2040-01-01")
    page.click("#decide")
    page.wait_for_selector("section.decision[data-state=TH] tr[data-figure=amount_due]")
    assert _page_figures(page)["TH"]["amount_due"] == "908.33"
    # The time line: every insured month of each state.
    assert page.get_attribute("#timeline g[data-state=TH]", "data-months") == "110"
    assert page.locator("#timeline g[data-state=MY] rect").count() == 96
