"""A cross-border career on three real nodes (in process), for decision tests.

The trio of ``tests.node.test_bundle_cli`` (MM-SSB home with the enrolment, TH-SSO host
with three months of 2026, one amended and one revoked, MY-PERKESO), plus: fictional
rules tables for TH, MY and MM, an agreement among the three, 108 months in Thailand
(2010-01 … 2018-12) and 96 in Malaysia (2019-01 … 2026-12). Each log is witnessed.

By hand, on 2040-01-01: TH holds 108 + 2 months (2026-07 amended, 2026-09; 2026-08
revoked) = 110; MY 96; both in 2026-07 and 2026-09, so totalised 110 + 96 - 2 = 204
months (17 years).
TH (4000 after 40 years, 60 months qualify): alone, 110 months (9 years): national
4000 x 9/40 = 900.00 THB. With MY: theoretical 4000 x 17/40 = 1700; share
108 + 2 x 1/2 = 109 of 204: pro-rata 908.33; due the higher, 908.33 THB.
MY (2000 after 40 years, 120 months qualify): alone, 96 months: nothing. With TH:
theoretical 850; share 94 + 1 = 95 of 204: pro-rata 395.83 MYR.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.ledger.portability.agreements import sign_agreement
from pel.node.agency_node import utc_now
from tests import factories as f
from tests.ledger.portability.kit import full_after_40_years, months, param, table
from tests.node.test_bundle_cli import PWID, Trio

AGREEMENT_ID = "agreement-mm-my-th"


def rules(state: str, currency: str, full: str, qualifying: int) -> dict[str, Any]:
    return {
        "type": "rules",
        "id": f"rules-{state}-1",
        "body": table(
            state,
            currency,
            qualifying_months=param("months", qualifying),
            pension_formula=param("formula", full_after_40_years(full)),
        ),
    }


def agreement(trio: Trio) -> dict[str, Any]:
    """Signed by every party, the proposer (TH-SSO) last."""
    parties = ["TH-SSO", "MY-PERKESO", "MM-SSB"]
    draft: dict[str, Any] = {
        "v": 1,
        "type": "agreement",
        "issuer": "TH-SSO",
        "id": AGREEMENT_ID,
        "issued_at": utc_now(),
        "body": {
            "format": "pel-agreement/v1",
            "parties": parties,
            "branches": ["old_age"],
            "totalisation": True,
            "minimum_period_months": 12,
            "export": True,
            "in_force_from": "2027-01-01",
            "until": None,
            "legal_text": {"title": "Test agreement", "url": "https://example.org/agreement"},
            "signatures": [],
        },
    }
    for agency in ("MY-PERKESO", "MM-SSB", "TH-SSO"):
        draft = sign_agreement(draft, agency, trio.nodes[agency].issuer_key)
    return draft


def contributions(currency: str, periods: list[str], earnings: str) -> list[dict[str, Any]]:
    return [
        f.contribution(
            pwid=PWID,
            body={
                "period": p,
                "currency": currency,
                "insured_earnings": earnings,
                "contributions": {"old_age": "100.00"},
            },
        )
        for p in periods
    ]


def career(trio: Trio, *, with_agreement: bool = True) -> None:
    nodes = trio.nodes
    nodes["TH-SSO"].submit([rules("TH", "THB", "4000", 60)])
    nodes["MY-PERKESO"].submit([rules("MY", "MYR", "2000", 120)])
    nodes["MM-SSB"].submit([rules("MM", "MMK", "100000", 180)])
    if with_agreement:
        signed = agreement(trio)
        for agency in ("TH-SSO", "MY-PERKESO", "MM-SSB"):
            nodes[agency].submit([signed])
    nodes["TH-SSO"].submit(contributions("THB", months("2010-01", 108), "15000.00"))
    nodes["MY-PERKESO"].submit(contributions("MYR", months("2019-01", 96), "2500.00"))
    for agency in nodes:
        trio.publish(agency)


class Federation(httpx.BaseTransport):
    """The trio's nodes behind their trust-list URLs (``http://127.0.0.1:9/<CC>``), in
    process: a request goes to the node its first path segment names."""

    def __init__(self, trio: Trio) -> None:
        self.clients = {
            n.agency[:2]: TestClient(create_app(n, start=False)) for n in trio.nodes.values()
        }

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _, cc, rest = request.url.raw_path.decode().split("/", 2)
        r = self.clients[cc].request(
            request.method, "/" + rest, headers=dict(request.headers), content=request.content
        )
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)
