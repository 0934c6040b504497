"""Decisions: entitlement decisions per second per core, for workers of a mirrored
federation.

The ten ASEAN states' shipped rules tables are published as ``rules`` records, with a
multilateral agreement (TH, MY, MM, KH, LA, VN, ID, PH) and a bilateral one (SG, BN),
each appended to every party's log; workers' careers are built in memory as a member
mirroring every log holds them (each record with its log origin and index): a home
state (MM, KH, LA, VN, ID or PH) with an enrolment and some months at home, and one to
three spells abroad (TH, MY, SG or BN), 6 to 120 months each, with an occasional
amendment and revocation. Each worker is decided by ``ledger.portability.decide`` on
2040-01-01, every core deciding its share; only the decisions are timed (the careers
are built first).

    python -m bench.decisions [--workers 100000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from typing import Any

from bench.common import header, row
from pel.ledger.portability.engine import Claim, decide
from pel.ledger.portability.periods import ProvenRef, SourcedRecord
from pel.ledger.portability.shipped import ASEAN_STATES, shipped_table

AT = date(2040, 1, 1)
AGENCY = {
    "BN": "BN-TAP",
    "ID": "ID-BPJSTK",
    "KH": "KH-NSSF",
    "LA": "LA-LSSO",
    "MM": "MM-SSB",
    "MY": "MY-PERKESO",
    "PH": "PH-SSS",
    "SG": "SG-CPF",
    "TH": "TH-SSO",
    "VN": "VN-VSS",
}
HOMES = ("MM", "KH", "LA", "VN", "ID", "PH")
HOSTS = ("TH", "MY", "SG", "BN")
CURRENCY = {"BN": "BND", "ID": "IDR", "KH": "KHR", "LA": "LAK", "MM": "MMK", "MY": "MYR",
            "PH": "PHP", "SG": "SGD", "TH": "THB", "VN": "VND"}  # fmt: skip
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def origin(state: str) -> str:
    return f"{AGENCY[state].lower()}.example/pel"


def law() -> tuple[list[SourcedRecord], list[SourcedRecord]]:
    """The rules records of the ten states and the two agreements, as logged."""
    rules = []
    for i, state in enumerate(ASEAN_STATES):
        record = {"v": 1, "type": "rules", "issuer": AGENCY[state], "id": f"rules-{state}",
                  "issued_at": "2026-12-07T00:00:00Z", "body": shipped_table(state),
                  "sig": "x"}  # fmt: skip
        rules.append(
            SourcedRecord(record, ProvenRef(origin(state), i, AGENCY[state], record["id"]))
        )
    agreements = []
    for rid, states in (
        ("asean-multilateral", ("TH", "MY", "MM", "KH", "LA", "VN", "ID", "PH")),
        ("bn-sg", ("SG", "BN")),
    ):
        parties = [AGENCY[s] for s in states]
        body = {"format": "pel-agreement/v1", "parties": parties, "branches": ["old_age"],
                "totalisation": True, "minimum_period_months": 12, "export": True,
                "in_force_from": "2027-01-01", "until": None,
                "legal_text": {"title": rid, "url": "https://example.org/agreement"},
                "signatures": [{"issuer": p, "sig": "x"} for p in parties]}  # fmt: skip
        record = {"v": 1, "type": "agreement", "issuer": parties[0], "id": rid,
                  "issued_at": "2026-12-07T00:00:00Z", "body": body, "sig": "x"}  # fmt: skip
        for s in states:  # the same record in every party's log
            agreements.append(SourcedRecord(record, ProvenRef(origin(s), 100, parties[0], rid)))
    return rules, agreements


def _months(first_year: int, first_month: int, count: int) -> list[str]:
    out = []
    y, m = first_year, first_month
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def career(n: int) -> tuple[str, list[SourcedRecord]]:
    """Worker ``n``'s PWID and records, the same on every run."""
    rng = random.Random(n)
    home = rng.choice(HOMES)
    pwid = home + "-" + "".join(rng.choice(CROCKFORD) for _ in range(16))
    index = {s: 1000 + n * 400 for s in AGENCY}  # each worker's entries in each log
    out: list[SourcedRecord] = []

    def add(state: str, kind: str, body: dict[str, Any], rid: str) -> SourcedRecord:
        record = {"v": 1, "type": kind, "issuer": AGENCY[state], "id": rid, "pwid": pwid,
                  "issued_at": "2030-01-01T00:00:00Z", "body": body, "sig": "x"}  # fmt: skip
        s = SourcedRecord(record, ProvenRef(origin(state), index[state], AGENCY[state], rid))
        index[state] += 1
        out.append(s)
        return s

    add(home, "enrolment", {"home_country": home, "enrolled_on": "2010-01-01",
                            "commitment_scheme": "sha256-salted-jcs-v1",
                            "commitment": "A" * 43 + "="}, f"e-{n}")  # fmt: skip
    year = 2000 + rng.randrange(10)
    spells = [(home, rng.randrange(0, 60))] + [
        (rng.choice(HOSTS), rng.randrange(6, 121)) for _ in range(rng.randrange(1, 4))
    ]
    k = 0
    for state, count in spells:
        start_month = rng.randrange(1, 13)
        for period in _months(year, start_month, count):
            k += 1
            earnings = f"{rng.randrange(8000, 20000)}.00"
            c = add(state, "contribution", {"employer": "EMP-0001", "period": period,
                                            "insured_earnings": earnings,
                                            "currency": CURRENCY[state],
                                            "contributions": {"old_age": "100.00"}},
                    f"c-{n}-{state}-{k}")  # fmt: skip
            roll = rng.random()
            if roll < 0.01:
                add(state, "revocation", {"target": {"issuer": AGENCY[state], "id": c.ref.id},
                                          "reason": "duplicate"}, f"r-{n}-{state}-{k}")  # fmt: skip
            elif roll < 0.03:
                body = dict(c.record["body"], insured_earnings=f"{rng.randrange(8000, 20000)}.00")
                add(state, "amendment", {"target": {"issuer": AGENCY[state], "id": c.ref.id},
                                         "target_type": "contribution",
                                         "reason": "employer_correction", "body": body},
                    f"a-{n}-{state}-{k}")  # fmt: skip
        year += count // 12 + 1
    return pwid, out


def _decide_share(first: int, count: int) -> tuple[int, float, int, int]:
    """Decide workers ``first`` … ``first + count - 1``: how many, the seconds the
    decisions took (CPU), the records read and the states decided."""
    rules, agreements = law()
    workers = [career(n) for n in range(first, first + count)]
    records = sum(len(r) for _, r in workers)
    states = 0
    started = time.process_time()
    for pwid, recs in workers:
        states += len(decide(Claim(pwid, AT), recs, rules, agreements).states)
    return count, time.process_time() - started, records, states


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, default=100_000)
    p.add_argument("--chunk", type=int, default=2_000)
    args = p.parse_args()
    limits = header(f"entitlement decisions for {args.workers:,} workers")
    context = multiprocessing.get_context("spawn")
    chunks = [
        (first, min(args.chunk, args.workers - first))
        for first in range(0, args.workers, args.chunk)
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(limits.cores, mp_context=context) as pool:
        results = list(pool.map(_decide_share, *zip(*chunks, strict=True)))
    wall = time.perf_counter() - started
    decided = sum(r[0] for r in results)
    cpu = sum(r[1] for r in results)
    records = sum(r[2] for r in results)
    states = sum(r[3] for r in results)
    row(
        "decisions per second, per core (CPU time)",
        decided / cpu,
        "/s",
        limits.verify,
        "one-core Ed25519 verify rate",
    )
    row(f"  {decided:,} workers, {records:,} records, {states:,} state decisions in", cpu, "s CPU")
    row("  records read per decision, mean", records / decided, "")
    row(f"decisions per second, all {limits.cores} cores (wall, careers built too)",
        decided / wall, "/s")  # fmt: skip


if __name__ == "__main__":
    main()
