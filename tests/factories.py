"""Small builders of valid record drafts for tests."""

from __future__ import annotations

import base64
import hashlib
import itertools
from typing import Any

_ids = itertools.count(1)

PWID = "MM-7K3Q9X2M4T8V1B5N"
PWID2 = "ID-0123456789ABCDEF"


def next_id(prefix: str = "rec") -> str:
    return f"{prefix}-{next(_ids):08d}"


def contribution(**over: Any) -> dict[str, Any]:
    body = {
        "employer": "EMP-4F2A91C3",
        "period": "2026-10",
        "insured_earnings": "2450.00",
        "currency": "MYR",
        "contributions": {"employment_injury": "30.63", "invalidity": "24.50"},
    }
    body.update(over.pop("body", {}))
    rec = {
        "v": 1,
        "type": "contribution",
        "id": next_id(),
        "pwid": PWID,
        "body": body,
        "issued_at": "2026-11-01T09:00:00Z",
    }
    rec.update(over)
    return rec


def enrolment(**over: Any) -> dict[str, Any]:
    rec = {
        "v": 1,
        "type": "enrolment",
        "id": next_id(),
        "pwid": PWID,
        "issued_at": "2026-01-02T08:00:00Z",
        "body": {
            "home_country": "MM",
            "enrolled_on": "2026-01-01",
            "commitment_scheme": "sha256-salted-jcs-v1",
            "commitment": base64.b64encode(hashlib.sha256(b"salt").digest()).decode(),
        },
    }
    rec.update(over)
    return rec


def entitlement(**over: Any) -> dict[str, Any]:
    rec = {
        "v": 1,
        "type": "entitlement",
        "id": next_id(),
        "pwid": PWID,
        "issued_at": "2026-11-20T08:00:00Z",
        "body": {
            "benefit": "lump_sum_refund",
            "status": "granted",
            "amount": "1200.00",
            "currency": "MYR",
            "frequency": "one_off",
            "start_date": "2026-12-01",
            "exportable": True,
            "periods": ["2026-09", "2026-10"],
            "based_on": [{"issuer": "MY-PERKESO", "id": "rec-1"}],
        },
    }
    rec.update(over)
    return rec


def amendment(target: dict[str, Any], issuer: str = "MY-PERKESO", **over: Any) -> dict[str, Any]:
    fixed = dict(target["body"], insured_earnings="2500.00")
    rec = {
        "v": 1,
        "type": "amendment",
        "id": next_id(),
        "pwid": target["pwid"],
        "issued_at": "2026-11-21T08:00:00Z",
        "body": {
            "target": {"issuer": issuer, "id": target["id"]},
            "target_type": target["type"],
            "reason": "clerical_error",
            "body": fixed,
        },
    }
    rec.update(over)
    return rec


def revocation(target: dict[str, Any], issuer: str = "MY-PERKESO", **over: Any) -> dict[str, Any]:
    rec = {
        "v": 1,
        "type": "revocation",
        "id": next_id(),
        "pwid": target["pwid"],
        "issued_at": "2026-11-21T08:00:00Z",
        "body": {"target": {"issuer": issuer, "id": target["id"]}, "reason": "duplicate"},
    }
    rec.update(over)
    return rec


def with_issuer(rec: dict[str, Any], issuer: str = "MY-PERKESO") -> dict[str, Any]:
    return {**rec, "issuer": issuer}
