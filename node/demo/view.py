"""How ``pel demo`` shows the federation it set up: a table of the logs, one sample worker
and where their records are, and the URLs to open."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pel.node.demo.asean import agency_for
from pel.node.demo.command import pel_command
from pel.node.demo.run import DemoResult


def _countries(agencies: list[str]) -> str:
    return " ".join(agency_for(a).country for a in agencies)


def print_summary(console: Console, result: DemoResult) -> None:
    """The summary printed once every log is witnessed (and mirrored, when reported)."""
    members = len(result.logs)
    table = Table(title=f"{members} member states' logs, witness quorum {result.quorum}")
    for col in ("state", "agency", "origin", "tree size", "witnessed by", "mirrored by"):
        table.add_column(col, justify="right" if col == "tree size" else "left", no_wrap=True)
    for row in result.logs:
        mirrored = row["mirrored_by"]
        table.add_row(
            row["state"],
            row["agency"],
            row["origin"],
            str(row["tree_size"]),
            f"{len(row['cosigners'])}/{members - 1} {_countries(row['cosigners'])}",
            "not reported"
            if mirrored is None
            else f"{len(mirrored)}/{members - 1} {_countries(mirrored)}",
        )
    if not console.is_terminal:
        # Piped output has no width to fit: the table gets the width it measures, so no
        # cell is cut whatever the origins and witness lists hold.
        width = console.width
        console.width = 10_000
        try:
            console.width = console.measure(table).maximum
            console.print(table, crop=False)
        finally:
            console.width = width
    else:
        console.print(table)
    if all(row["mirrored_by"] is None for row in result.logs):
        console.print("mirrors: not reported by the nodes")
    sample = result.sample
    if sample is not None:
        enrol, paid, granted = sample["enrolment"], sample["contributions"], sample["entitlements"]
        console.print(
            f"sample worker [bold]{sample['pwid']}[/bold]: home {sample['home']['state']}, "
            f"works in {sample['host']['state']}",
            highlight=False,
        )
        console.print(
            f"  enrolment in {enrol['agency']}'s log at index {enrol['index']}"
            + (
                f": {enrol['url']}\n"
                f"    (personal data: read it with the agency's token, "
                f'curl -H "Authorization: Bearer '
                f'$(cat {result.directory}/{enrol["agency"]}/token)")'
                if result.serving
                else ""
            ),
            highlight=False,
            markup=False,
        )
        indices = paid["indices"]
        console.print(
            f"  {len(indices)} monthly contributions in {paid['agency']}'s log, indices "
            f"{min(indices)}…{max(indices)}"
            + (
                f"; {len(granted['indices'])} entitlement(s) at {granted['indices']}"
                if granted["indices"]
                else ""
            ),
            highlight=False,
        )
    pel, d = pel_command(), result.directory
    if sample is not None and result.serving:
        home = sample["home"]["agency"]
        console.print(
            "  the worker's whole bundle, from the home agency's node (it mirrors the others):\n"
            f"    {pel} bundle {sample['pwid']} --trust {d}/trust.json "
            f'--url {result.urls[home]} --token "$(cat {d}/{home}/token)" --out bundle.json\n'
            f"    {pel} verify-bundle bundle.json --trust {d}/trust.json   "
            f"(or drop it on {result.urls[home]}/verify)\n"
            "  an audit of the home agency's log, with the auditor token its node issued:\n"
            f"    {pel} audit {result.urls[home]} --state audit-{home} --trust {d}/trust.json "
            f'--token "$(cat {d}/{home}/auditor-token)"',
            highlight=False,
            markup=False,
        )
    law = result.law
    if law:
        # Viet Nam's minimum period changed on 2025-07-01: a date on each side shows it.
        shown = result.urls.get("VN-VSS") or next(iter(result.urls.values()))
        console.print(
            f"rules tables published: {', '.join(r['state'] for r in law['rules'].values())}"
            + (f"  ({pel} rules show {shown} --at 2025-06-30)" if result.serving else ""),
            highlight=False,
            markup=False,
        )
        for record_id, a in law["agreements"].items():
            console.print(
                f"agreement {record_id}: {', '.join(a['parties'])}, in every party's log"
                + (
                    f"  ({pel} agreement show {result.urls[a['parties'][0]]})"
                    if result.serving
                    else ""
                ),
                highlight=False,
                markup=False,
            )
    if not result.serving:
        console.print(
            f"the nodes are stopped (--exit-after); {pel} demo --dir {d} serves them again",
            highlight=False,
            markup=False,
        )
    else:
        for agency, url in result.urls.items():
            console.print(
                f"{agency:<11} {url}/  {url}/verify  {url}/checkpoint  {url}/docs  {url}/v1/node",
                highlight=False,
            )
    console.print(
        f"{result.records} records in {members} logs, all witnessed, in {result.elapsed:.1f} s",
        highlight=False,
    )
    if result.career:
        print_career(console, result.career, result)


def print_career(console: Console, career: dict[str, Any], result: DemoResult) -> None:
    """The cross-border worker's decision, without and with the agreement in force."""
    console.print(
        f"cross-border worker [bold]{career['pwid']}[/bold] (home MM; 9 years in TH, 8 in MY), "
        f"decided from the bundle of {career['records']} verified records:",
        highlight=False,
    )
    for name in ("without_agreement", "with_agreement"):
        d = career[name]
        console.print(f"  on {d['at']}: {'; '.join(d['agreements']) or 'no agreement'}",
                      highlight=False, markup=False)  # fmt: skip
        for s in d["states"]:
            paid = (
                f"pension {s['amount_due']} {s['currency']} a month"
                if s["outcome"] == "pension"
                else f"lump sum {s['lump_sum']} {s['currency']}"
                if s["outcome"] == "lump_sum"
                else s["outcome"]
            )
            console.print(
                f"    {s['state']}: {s['months']} months (totalised {s['totalised_months']}): "
                f"{paid}",
                highlight=False,
                markup=False,
            )
    if not result.serving:  # the bundle is asked of the running nodes
        return
    pel, d = pel_command(), result.directory
    at = career["with_agreement"]["at"]
    console.print(
        f"  {pel} bundle {career['pwid']} --trust {d}/trust.json "
        f"--key {d}/MM-SSB/keys/issuer.pem "
        "--agency MM-SSB --out career.json\n"
        f"  {pel} entitle career.json --trust {d}/trust.json --at {at}",
        highlight=False,
        markup=False,
    )
