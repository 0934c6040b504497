"""The demo's law: every member publishes its state's shipped rules table, and the members
sign and publish the demo's agreements (one multilateral, several bilateral), each to every
party's log.

The agreements are illustrations of the format, not real instruments: no social-security
agreement exists between ASEAN states, and their legal text says so. Each is published
only when all its parties are in the demo. Records are deterministic (a fixed
``issued_at``; Ed25519 signatures are deterministic), so a second run finds them in the
logs already.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pel.ledger.portability.agreements import sign_agreement
from pel.ledger.portability.shipped import shipped_table
from pel.node.config import KEY_FILES
from pel.node.demo.setup import Demo
from pel.node.law.publish import publish, rules_draft
from pel.node.trust.secret_files import read_private_key

#: When the demo's agreements were "signed" (fixed, so that a second run is idempotent).
SIGNED_AT = "2026-12-01T00:00:00Z"
#: The legal text the demo agreements point to: the ASEAN site (they have no text of their own).
DEMO_TEXT = "https://asean.org/"


@dataclass(frozen=True)
class DemoAgreement:
    """The terms of one demo agreement; the proposer is the first party."""

    record_id: str
    parties: tuple[str, ...]
    branches: tuple[str, ...]
    in_force_from: str
    title: str


DEMO_AGREEMENTS: tuple[DemoAgreement, ...] = (
    DemoAgreement(
        "demo-agreement-th-my-mm",
        ("TH-SSO", "MY-PERKESO", "MM-SSB"),
        ("old_age", "invalidity", "survivors"),
        "2027-01-01",
        "Multilateral demonstration agreement: Thailand, Malaysia, Myanmar (not a real instrument)",
    ),
    DemoAgreement(
        "demo-agreement-my-id",
        ("MY-PERKESO", "ID-BPJSTK"),
        ("old_age", "invalidity"),
        "2027-01-01",
        "Bilateral demonstration agreement: Malaysia, Indonesia (not a real instrument)",
    ),
    DemoAgreement(
        "demo-agreement-kh-th",
        ("KH-NSSF", "TH-SSO"),
        ("old_age",),
        "2027-07-01",
        "Bilateral demonstration agreement: Cambodia, Thailand (not a real instrument)",
    ),
    DemoAgreement(
        "demo-agreement-ph-vn",
        ("PH-SSS", "VN-VSS"),
        ("old_age", "survivors"),
        "2027-07-01",
        "Bilateral demonstration agreement: Philippines, Viet Nam (not a real instrument)",
    ),
)


def agreement_record(terms: DemoAgreement, demo: Demo) -> dict[str, Any]:
    """The agreement signed by every party (the proposer last, which seals it), with the
    issuer keys of the demo's node directories."""
    record: dict[str, Any] = {
        "v": 1,
        "type": "agreement",
        "issuer": terms.parties[0],
        "id": terms.record_id,
        "issued_at": SIGNED_AT,
        "body": {
            "format": "pel-agreement/v1",
            "parties": list(terms.parties),
            "branches": list(terms.branches),
            "totalisation": True,
            "minimum_period_months": 12,
            "export": True,
            "in_force_from": terms.in_force_from,
            "until": None,
            "legal_text": {"title": terms.title, "url": DEMO_TEXT},
            "signatures": [],
        },
    }
    dirs = {n.agency: n.directory for n in demo.nodes}
    for party in (*terms.parties[1:], terms.parties[0]):
        key = read_private_key(dirs[party] / KEY_FILES["issuer"])
        record = sign_agreement(record, party, key)
    return record


def publish_law(demo: Demo, urls: dict[str, str], say: Callable[[str], None]) -> dict[str, Any]:
    """Publish every member's rules table and every agreement whose parties are all in
    the demo. Returns what went where (``rules``: agency → receipt; ``agreements``: id →
    parties and each party's index) and ``records``, the number of law records taken.

    Raises:
        RemoteError / PeerError: a node refused a record or could not be reached.
    """
    tokens = {n.agency: n.token() for n in demo.nodes}
    # (what, agency, record): every record is sent at once, each node signing and
    # sequencing its own in parallel (each publication waits for a checkpoint).
    work: list[tuple[str, str, dict[str, Any]]] = [
        ("rules", n.agency, rules_draft(shipped_table(n.agency[:2]))) for n in demo.nodes
    ]
    for terms in DEMO_AGREEMENTS:
        if set(terms.parties) <= set(tokens):
            record = agreement_record(terms, demo)
            work.extend((terms.record_id, party, record) for party in terms.parties)
    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(pool.map(lambda w: publish(urls[w[1]], tokens[w[1]], w[2]), work))
    rules: dict[str, Any] = {}
    agreements: dict[str, Any] = {}
    for (what, agency, record), got in zip(work, receipts, strict=True):
        if what == "rules":
            rules[agency] = {"state": agency[:2], "id": got["id"], "index": got["index"]}
        else:
            entry = agreements.setdefault(
                what, {"parties": list(record["body"]["parties"]), "indexes": {}}
            )
            entry["indexes"][agency] = got["index"]
    count = len(rules) + sum(len(a["parties"]) for a in agreements.values())
    say(
        f"published {len(rules)} rules tables and {len(agreements)} agreements "
        f"({', '.join(agreements) or 'none among these states'})"
    )
    return {"rules": rules, "agreements": agreements, "records": count}


__all__ = ["DEMO_AGREEMENTS", "DemoAgreement", "agreement_record", "publish_law"]
