"""Synthetic filings across logs: migrant workers along the corridors between member states.

``corridor_filings`` gives each agency of a federation what its back office would file
about the same workers: the HOME state's log gets the worker's enrolment (a PWID with
the home country's prefix and a salted commitment to an identity that does not exist),
the HOST state's log gets the monthly contributions over several years, in the host's
currency and at the host agency's branch rates (``node.asean``), a few entitlements
(lump-sum refunds when the work ends, employment-injury benefits), and the odd
correction (an employer's amendment, a duplicate filing revoked). Deterministic for a
given seed; no real person is described.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pel.crypto.jcs import canonicalize
from pel.node.demo.asean import CORRIDORS, Agency, agency_for
from pel.node.demo.synth import _contribution, _money, _periods, make_pwid, uuid7

BASE_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
MONTH_MS = 2_592_000_000


@dataclass
class Worker:
    """One synthetic migrant worker and where their records are."""

    pwid: str
    home: str
    host: str
    enrolment: str = ""
    contributions: list[str] = field(default_factory=list)
    entitlements: list[str] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)


@dataclass
class CorridorFilings:
    """Record drafts by agency id (in filing order) and the workers they describe."""

    drafts: dict[str, list[dict[str, Any]]]
    workers: list[Worker]

    def count(self) -> int:
        return sum(len(d) for d in self.drafts.values())


def corridors_between(agency_ids: Sequence[str]) -> list[tuple[str, str, int]]:
    """The corridors (home agency, host agency, weight) whose two ends are both given."""
    by_country = {agency_for(a).country: a for a in agency_ids}
    return [
        (by_country[home], by_country[host], w)
        for home, host, w in CORRIDORS
        if home in by_country and host in by_country
    ]


def _assign(rng: random.Random, agency_ids: Sequence[str], workers: int) -> list[tuple[str, str]]:
    """A corridor for each worker: first enough to give every state's log some records
    (heaviest corridors first), then in proportion to the corridors' weights."""
    corridors = sorted(corridors_between(agency_ids), key=lambda c: -c[2])
    if not corridors:
        return []
    chosen: list[tuple[str, str]] = []
    uncovered = set(agency_ids)
    for home, host, _ in corridors:
        if len(chosen) < workers and ({home, host} & uncovered):
            chosen.append((home, host))
            uncovered -= {home, host}
    while len(chosen) < workers:
        home, host, _ = rng.choices(corridors, [w for *_, w in corridors])[0]
        chosen.append((home, host))
    return chosen


def _enrolment(
    home: Agency, rng: random.Random, pwid: str, period: str, millis: int
) -> dict[str, Any]:
    # The commitment binds attributes only the worker holds the opening of; here they
    # are random bytes, so nothing in the demo describes anyone.
    salt, attributes = rng.randbytes(32), {"attributes": rng.randbytes(24).hex()}
    digest = hashlib.sha256(salt + canonicalize(attributes)).digest()
    return {
        "v": 1,
        "type": "enrolment",
        "id": uuid7(rng, millis),
        "pwid": pwid,
        "issued_at": f"{period}-02T08:00:00Z",
        "body": {
            "home_country": home.country,
            "enrolled_on": f"{period}-01",
            "commitment_scheme": "sha256-salted-jcs-v1",
            "commitment": base64.b64encode(digest).decode(),
        },
    }


def _entitlement(
    host: Agency,
    rng: random.Random,
    pwid: str,
    millis: int,
    *,
    benefit: str,
    status: str,
    amount: Decimal,
    frequency: str,
    start: str,
    periods: list[str],
    based_on: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "entitlement",
        "id": uuid7(rng, millis),
        "pwid": pwid,
        "issued_at": f"{start}T11:00:00Z",
        "body": {
            "benefit": benefit,
            "status": status,
            "amount": _money(amount),
            "currency": host.currency,
            "frequency": frequency,
            "start_date": start,
            "exportable": True,
            "periods": periods,
            "based_on": [{"issuer": host.id, "id": c["id"]} for c in based_on[:1000]],
        },
    }


def _correction(
    kind: str, host: Agency, rng: random.Random, target: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    return {
        "v": 1,
        "type": kind,
        "id": uuid7(rng, BASE_MS),
        "pwid": target["pwid"],
        "issued_at": target["issued_at"].replace("T09:", "T15:"),
        "body": {"target": {"issuer": host.id, "id": target["id"]}, **fields},
    }


def corridor_filings(
    agency_ids: Sequence[str],
    *,
    workers: int,
    months: int,
    seed: int = 0,
    start_year: int = 2023,
) -> CorridorFilings:
    """Record drafts for each agency about ``workers`` migrant workers.

    Args:
        agency_ids: The federation's agencies; corridors with both ends among them are used.
        workers: How many workers; each has an enrolment at home and contributions at the host.
        months: The span of the filings (from January of ``start_year``); a worker works
            between half of it and all of it.
        seed: Same seed, same drafts (so a re-run's submissions are duplicates).
        start_year: The first year of contributions.

    Returns:
        The drafts by agency id (targets of corrections before their corrections) and
        the workers, each with the ids of their records.
    """
    rng = random.Random(f"corridors:{seed}:{','.join(agency_ids)}")
    drafts: dict[str, list[dict[str, Any]]] = {a: [] for a in agency_ids}
    periods = _periods(start_year, months)
    people: list[Worker] = []
    for home_id, host_id in _assign(rng, agency_ids, workers):
        home, host = agency_for(home_id), agency_for(host_id)
        worker = Worker(make_pwid(rng, home.country), home_id, host_id)
        span = rng.randint(max(1, months // 2), months)
        first = rng.randrange(0, months - span + 1)
        worked = periods[first : first + span]
        enrolment = _enrolment(home, rng, worker.pwid, worked[0], BASE_MS + first * MONTH_MS)
        drafts[home_id].append(enrolment)
        worker.enrolment = enrolment["id"]
        employer = f"EMP-{rng.getrandbits(40):010X}"
        filed = []
        for i, period in enumerate(worked):
            millis = BASE_MS + (first + i + 1) * MONTH_MS
            c = _contribution(host, rng, worker.pwid, employer, period, millis)
            filed.append(c)
        out = drafts[host_id]
        out.extend(filed)
        worker.contributions = [c["id"] for c in filed]
        roll = rng.random()
        end_ms = BASE_MS + (first + span + 1) * MONTH_MS
        extra: list[dict[str, Any]] = []
        if roll < 0.04 and len(filed) > 1:
            # A duplicate filing for a month already filed, then withdrawn.
            dup = _contribution(host, rng, worker.pwid, employer, worked[-1], end_ms)
            extra += [dup, _correction("revocation", host, rng, dup, reason="duplicate")]
        elif roll < 0.10:
            target = rng.choice(filed)
            fixed = _contribution(host, rng, worker.pwid, employer, target["body"]["period"], 0)
            extra.append(
                _correction(
                    "amendment",
                    host,
                    rng,
                    target,
                    target_type="contribution",
                    reason="employer_correction",
                    body=fixed["body"],
                )
            )
        if rng.random() < 0.05:
            month = rng.randrange(len(worked))
            earnings = Decimal(filed[month]["body"]["insured_earnings"])
            extra.append(
                _entitlement(
                    host,
                    rng,
                    worker.pwid,
                    BASE_MS + (first + month + 1) * MONTH_MS,
                    benefit="employment_injury",
                    status="in_payment",
                    amount=earnings * Decimal("0.6"),
                    frequency="monthly",
                    start=f"{worked[month]}-15",
                    periods=worked[: month + 1],
                    based_on=filed[: month + 1],
                )
            )
        if first + span < months and rng.random() < 0.3:
            # The work ended before the filings did: contributions refunded in one sum.
            total = sum(
                (sum(Decimal(v) for v in c["body"]["contributions"].values()) for c in filed),
                Decimal(0),
            )
            extra.append(
                _entitlement(
                    host,
                    rng,
                    worker.pwid,
                    end_ms,
                    benefit="lump_sum_refund",
                    status="granted",
                    amount=total,
                    frequency="one_off",
                    start=f"{periods[first + span]}-15",
                    periods=worked,
                    based_on=filed,
                )
            )
        out.extend(extra)
        for rec in extra:
            kind = "entitlements" if rec["type"] == "entitlement" else "corrections"
            getattr(worker, kind).append(rec["id"])
        people.append(worker)
    return CorridorFilings(drafts, people)
