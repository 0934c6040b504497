"""Realistic synthetic record drafts, for tests, demos and benchmarks.

``synth_drafts`` writes what an agency's back office would file: for a host
state, monthly contributions of migrant workers from the corridors into it, with
a few entitlements and corrections; for a home state, enrolments of its own
nationals. Deterministic for a given seed. No real person is described: PWIDs
and commitments are random.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pel.node.demo.asean import CORRIDORS, Agency, agency_for

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def make_pwid(rng: random.Random, home: str) -> str:
    """A portable worker id: home country, '-', 16 Crockford base32 characters."""
    return home + "-" + "".join(rng.choice(CROCKFORD) for _ in range(16))


def uuid7(rng: random.Random, millis: int) -> str:
    """A UUIDv7 (RFC 9562) of Unix time ``millis`` with 74 random bits from ``rng``."""
    value = (millis << 80) | rng.getrandbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _periods(start_year: int, months: int) -> list[str]:
    return [f"{start_year + (m // 12)}-{m % 12 + 1:02d}" for m in range(months)]


def _contribution(
    a: Agency, rng: random.Random, pwid: str, employer: str, period: str, millis: int
) -> dict[str, Any]:
    earnings = Decimal(rng.randint(int(a.ceiling * 0.35), a.ceiling))
    return {
        "v": 1,
        "type": "contribution",
        "id": uuid7(rng, millis),
        "pwid": pwid,
        "issued_at": f"{period}-28T09:00:00Z",
        "body": {
            "employer": employer,
            "period": period,
            "insured_earnings": _money(earnings),
            "currency": a.currency,
            "contributions": {b: _money(earnings * Decimal(str(r))) for b, r in a.rates},
        },
    }


def synth_drafts(
    agency_id: str, count: int, *, seed: int = 0, months: int = 36, start_year: int = 2023
) -> Iterator[dict[str, Any]]:
    """Yield ``count`` record drafts for ``agency_id`` (no issuer, no sig: the node signs)."""
    a = agency_for(agency_id)
    rng = random.Random(f"{seed}:{agency_id}")
    homes = [(h, w) for h, host, w in CORRIDORS if host == a.country] or [("MM", 1)]
    employers = [f"EMP-{rng.getrandbits(40):010X}" for _ in range(max(4, count // 200))]
    periods = _periods(start_year, months)
    base_ms = 1_672_531_200_000  # 2023-01-01
    produced = 0
    while produced < count:
        # One worker at a time: an enrolment (home states only), then months of work.
        home = rng.choices([h for h, _ in homes], [w for _, w in homes])[0]
        pwid = make_pwid(rng, home)
        if a.country == home or rng.random() < 0.1:
            salt = rng.randbytes(32)
            yield {
                "v": 1,
                "type": "enrolment",
                "id": uuid7(rng, base_ms),
                "pwid": make_pwid(rng, a.country),
                "issued_at": f"{periods[0]}-02T08:00:00Z",
                "body": {
                    "home_country": a.country,
                    "enrolled_on": f"{periods[0]}-01",
                    "commitment_scheme": "sha256-salted-jcs-v1",
                    "commitment": base64.b64encode(hashlib.sha256(salt).digest()).decode(),
                },
            }
            produced += 1
        employer = rng.choice(employers)
        first = rng.randrange(0, max(1, len(periods) - 6))
        worked = periods[first : first + rng.randint(6, 36)]
        contributions: list[dict[str, Any]] = []
        for i, period in enumerate(worked):
            if produced >= count:
                return
            c = _contribution(a, rng, pwid, employer, period, base_ms + (first + i) * 2_592_000_000)
            contributions.append(c)
            yield c
            produced += 1
        if produced < count and rng.random() < 0.05 and contributions:
            target = rng.choice(contributions)
            fixed = _contribution(a, rng, pwid, employer, target["body"]["period"], base_ms)
            yield {
                "v": 1,
                "type": "amendment",
                "id": uuid7(rng, base_ms),
                "pwid": pwid,
                "issued_at": f"{worked[-1]}-28T10:00:00Z",
                "body": {
                    "target": {"issuer": a.id, "id": target["id"]},
                    "target_type": "contribution",
                    "reason": "employer_correction",
                    "body": fixed["body"],
                },
            }
            produced += 1
        if produced < count and rng.random() < 0.08:
            yield {
                "v": 1,
                "type": "entitlement",
                "id": uuid7(rng, base_ms),
                "pwid": pwid,
                "issued_at": f"{worked[-1]}-28T11:00:00Z",
                "body": {
                    "benefit": "lump_sum_refund",
                    "status": "granted",
                    "amount": _money(Decimal(a.ceiling) * Decimal("0.4") * len(worked) / 12),
                    "currency": a.currency,
                    "frequency": "one_off",
                    "start_date": f"{worked[-1]}-28",
                    "exportable": True,
                    "periods": worked,
                    "based_on": [{"issuer": a.id, "id": c["id"]} for c in contributions[:50]],
                },
            }
            produced += 1
