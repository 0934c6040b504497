"""The demo's cross-border career: a worker whose decision differs with and without an
agreement.

A worker from Myanmar (home, MM-SSB: the enrolment) worked nine years in Thailand
(TH-SSO, 2010-2018) and eight in Malaysia (MY-PERKESO, 2019-2026), paying into the
old-age branch in each. Under the shipped tables, neither state's months alone reach
Thailand's 180; the demo's multilateral agreement (Thailand, Malaysia, Myanmar, in force
from 2027-01-01) totalises them. So a decision on 2026-12-31 gives Thailand's lump sum
only, and one on 2030-01-01 a Thai pension, pro rata. Both are made as ``pel entitle``
makes them: from the worker's bundle, assembled from every member's node and verified
against the trust list. Deterministic (fixed ids and times): a second run finds the
records in the logs already.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import time
from decimal import Decimal
from typing import Any

from pel.crypto.request import sign_request
from pel.ledger.bundles.bundle import verify_bundle
from pel.ledger.federation.trust_list import SignedTrustList
from pel.ledger.portability.decision import Decision
from pel.ledger.portability.inputs import decide_report
from pel.node.config import KEY_FILES
from pel.node.demo.setup import Demo
from pel.node.demo.synth import make_pwid
from pel.node.trust.secret_files import read_private_key
from pel.node.workers.bundles import assemble

HOME = "MM-SSB"
#: (agency, currency, first month, months, insured earnings, old-age contribution).
SPELLS = (
    ("TH-SSO", "THB", (2010, 1), 108, "15000.00", "450.00"),
    ("MY-PERKESO", "MYR", (2019, 1), 96, "2500.00", "275.00"),
)
AGENCIES = (HOME, *(s[0] for s in SPELLS))
FILED_AT = "2027-01-05T00:00:00Z"
#: The decision dates: before the agreement is in force, and after.
WITHOUT, WITH = dt.date(2026, 12, 31), dt.date(2030, 1, 1)


def career_pwid(seed: int) -> str:
    return make_pwid(random.Random(f"career-{seed}"), "MM")


def _months(first: tuple[int, int], count: int) -> list[str]:
    y, m = first
    out = []
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def career_drafts(agencies: list[str], seed: int) -> dict[str, list[dict[str, Any]]]:
    """The career's record drafts by agency; none unless MM, TH and MY are all in the demo."""
    if not set(AGENCIES) <= set(agencies):
        return {}
    pwid = career_pwid(seed)
    salt = hashlib.sha256(f"career-salt-{seed}".encode()).digest()
    drafts: dict[str, list[dict[str, Any]]] = {
        HOME: [
            {
                "v": 1,
                "type": "enrolment",
                "id": f"career-{pwid}-enrolment",
                "issued_at": FILED_AT,
                "pwid": pwid,
                "body": {
                    "home_country": "MM",
                    "enrolled_on": "2009-12-01",
                    "commitment_scheme": "sha256-salted-jcs-v1",
                    "commitment": base64.b64encode(hashlib.sha256(salt).digest()).decode(),
                },
            }
        ]
    }
    for agency, currency, first, count, earnings, paid in SPELLS:
        drafts[agency] = [
            {
                "v": 1,
                "type": "contribution",
                "id": f"career-{pwid}-{period}",
                "issued_at": FILED_AT,
                "pwid": pwid,
                "body": {
                    "employer": "EMP-CAREER01",
                    "period": period,
                    "insured_earnings": earnings,
                    "currency": currency,
                    "contributions": {"old_age": paid},
                },
            }
            for period in _months(first, count)
        ]
    return drafts


def _state(decision: Decision, state: str) -> dict[str, Any]:
    s = decision.state(state)
    due = s.figures["amount_due"].value if "amount_due" in s.figures else Decimal(0)
    lump = s.figures["lump_sum"].value if "lump_sum" in s.figures else Decimal(0)
    return {
        "state": state,
        "outcome": s.outcome,
        "currency": s.currency,
        "months": s.figures["months"].value,
        "totalised_months": s.figures["totalised_months"].value
        if "totalised_months" in s.figures
        else None,
        "amount_due": format(due, "f"),
        "lump_sum": format(lump, "f"),
        "reason": s.figures["amount_due"].reason if "amount_due" in s.figures else "",
    }


def career_decisions(demo: Demo, urls: dict[str, str], seed: int) -> dict[str, Any]:
    """The career worker's bundle from every member's node, verified, decided without
    and with the agreement in force; what the summary shows."""
    pwid = career_pwid(seed)
    trust = SignedTrustList.from_json((demo.directory / "trust.json").read_text()).trust_list
    home = next(n for n in demo.nodes if n.agency == HOME)
    key = read_private_key(home.directory / KEY_FILES["issuer"])
    # The nodes may be asked at local URLs the trust list does not name: each request is
    # signed for the agency served there.
    agency_at = {url.rstrip("/"): agency for agency, url in urls.items()}
    got = assemble(
        pwid,
        trust,
        urls=list(urls.values()),
        sign=lambda url, _audience, target: sign_request(
            key, "GET", target, int(time.time()), audience=agency_at[url.rstrip("/")], agency=HOME
        ),
    )
    report = verify_bundle(got.bundle.to_bytes(), trust)
    out: dict[str, Any] = {"pwid": pwid, "home": "MM", "records": len(report.records)}
    for name, day in (("without_agreement", WITHOUT), ("with_agreement", WITH)):
        decision = decide_report(report, at=day)
        out[name] = {
            "at": day.isoformat(),
            "agreements": [
                f"{a['title']}: {'applies' if a['applies'] else a['reason']}"
                for a in decision.agreements
                if a["applies"] or "not yet" in a["reason"]
            ],
            "states": [_state(decision, s.state) for s in decision.states],
            "digest": decision.digest(),
        }
    return out


__all__ = ["AGENCIES", "career_decisions", "career_drafts", "career_pwid"]
