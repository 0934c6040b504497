"""Decisions on real nodes: ``pel entitle`` offline from a bundle, ``POST /v1/decisions``
online, the same figures from both, and an entitlement record that names its basis."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.crypto.request import sign_request
from pel.ledger.bundles.bundle import merge_bundles, verify_bundle
from pel.node.access.tokens import create_token
from pel.node.workers.bundles import build_part
from pel.node.workers.decisions import DECISIONS_PATH
from tests.node import test_bundle_cli as kit
from tests.node.decision_kit import career
from tests.node.test_cli import run

trio = kit.trio
Trio = kit.Trio
PWID = kit.PWID


def _bytes(body: dict) -> bytes:
    """The request body exactly as sent (what a signed request covers)."""
    return json.dumps(body).encode()


def _post(trio: Trio, agency: str, body: dict, auth: str | None = "own") -> tuple[int, dict]:
    if auth == "own":
        auth = "Bearer " + trio.tokens[agency]
    headers = {"Content-Type": "application/json", **({"Authorization": auth} if auth else {})}
    with TestClient(create_app(trio.nodes[agency], start=False)) as c:
        r = c.post(DECISIONS_PATH, content=_bytes(body), headers=headers)
    return r.status_code, r.json()


def _signed(trio: Trio, agency: str, body: dict, *, to: str = "TH-SSO", skew: int = 0) -> str:
    """A decision request with ``body`` signed by ``agency`` for ``to``'s node."""
    key, now = trio.nodes[agency].issuer_key, int(time.time()) + skew
    return sign_request(
        key, "POST", DECISIONS_PATH, now, audience=to, body=_bytes(body), agency=agency
    )


def _figures(decision: dict, state: str) -> dict[str, str]:
    s = next(x for x in decision["states"] if x["state"] == state)
    return {k: v["value"] for k, v in s["figures"].items()}


def test_the_bundle_carries_the_law_and_pel_entitle_decides(trio: Trio, tmp_path: Path) -> None:
    career(trio)
    part = build_part(trio.nodes["TH-SSO"], PWID)
    report = verify_bundle(part.bundle.to_bytes(), trio.trust_list)
    assert {v.type for v in report.records} >= {"rules", "agreement", "contribution"}
    path = tmp_path / "bundle.json"
    path.write_bytes(part.bundle.to_bytes())
    code, out, err = run(
        "entitle", str(path), "--trust", str(trio.trust_file), "--at", "2040-01-01", "--json"
    )
    assert code == 0, err
    d = json.loads(out)
    # Only the TH log here: 110 months (one revoked, one amended), 9 years: 900.00.
    th = _figures(d, "TH")
    assert th["months"] == 110 and th["totalised_months"] == 110
    assert th["national_amount"] == th["amount_due"] == "900.00"
    trust = str(trio.trust_file)
    code, out, err = run("entitle", str(path), "--trust", trust, "--at", "2040-01-01")
    assert code == 0, err
    assert "amount due" in out and "TH: pension" in out and "Test agreement" in out


def test_an_unverified_bundle_is_not_decided_on(trio: Trio, tmp_path: Path) -> None:
    career(trio)
    text = build_part(trio.nodes["TH-SSO"], PWID).bundle.to_json()
    bad = tmp_path / "bad.json"
    bad.write_text(text.replace('"15000.00"', '"95000.00"', 1))
    code, out, err = run("entitle", str(bad), "--trust", str(trio.trust_file), "--at", "2040-01-01")
    assert code == 1 and out == ""
    assert err.startswith("error: ") and err.strip().endswith("[bad_record_signature]")
    code, _, err = run("entitle", str(bad), "--trust", str(trio.trust_file), "--at", "2040-13-01")
    assert code == 1 and err.strip().endswith("[bad_date]")


def test_post_decision_equals_the_offline_decision(trio: Trio, tmp_path: Path) -> None:
    career(trio)
    status, answer = _post(trio, "TH-SSO", {"pwid": PWID, "at": "2040-01-01"})
    assert status == 200, answer
    path = tmp_path / "bundle.json"
    path.write_bytes(build_part(trio.nodes["TH-SSO"], PWID).bundle.to_bytes())
    code, out, err = run(
        "entitle", str(path), "--trust", str(trio.trust_file), "--at", "2040-01-01", "--json"
    )
    assert code == 0, err
    assert json.loads(out) == answer["decision"]
    assert answer["pending"] == []


def test_who_may_ask_for_a_decision(trio: Trio) -> None:
    career(trio)
    body = {"pwid": PWID, "at": "2040-01-01"}
    assert _post(trio, "TH-SSO", body, None)[0] == 401
    assert _post(trio, "TH-SSO", body, "Bearer pel_nonsense")[0] == 401

    assert _post(trio, "TH-SSO", body, _signed(trio, "MM-SSB", body))[0] == 200  # the home agency
    assert _post(trio, "TH-SSO", body, _signed(trio, "MM-SSB", body, skew=-400))[0] == 401
    # MY holds no record of the worker in TH's log (and TH mirrors nothing): 403.
    status, answer = _post(trio, "TH-SSO", body, _signed(trio, "MY-PERKESO", body))
    assert status == 403 and answer["error"]["code"] == "forbidden"
    # Only the node's own admin token records a decision: not another member, not a
    # reader (who may ask for one), not a writer (who reads no records).
    record = {**body, "record": True}
    status, answer = _post(trio, "TH-SSO", record, _signed(trio, "MM-SSB", record))
    assert status == 403
    th = trio.nodes["TH-SSO"]
    for role, asked in (("reader", 200), ("writer", 403)):
        token = "Bearer " + create_token(th.tokens, "TH-SSO", role, role=role)
        assert _post(trio, "TH-SSO", body, token)[0] == asked, role
        status, answer = _post(trio, "TH-SSO", {**body, "record": True}, token)
        assert (status, answer["error"]["code"]) == (403, "forbidden"), role
    # Bad requests: 422 with a stable code.
    status, answer = _post(trio, "TH-SSO", {"pwid": "nope", "at": "2040-01-01"})
    assert (status, answer["error"]["code"]) == (422, "bad_pwid")
    status, answer = _post(trio, "TH-SSO", {"pwid": PWID, "at": "2040-02-30"})
    assert (status, answer["error"]["code"]) == (422, "bad_date")
    status, answer = _post(trio, "TH-SSO", {"pwid": PWID, "at": "2040-01-01", "extra": 1})
    assert (status, answer["error"]["code"]) == (422, "unknown_field")
    # A worker this node holds nothing of: the part proves absence; nothing is owed.
    status, answer = _post(trio, "TH-SSO", {"pwid": "MM-0000000000000000", "at": "2040-01-01"})
    assert status == 200 and answer["decision"]["states"] == [], answer


def test_a_signed_decision_request_is_bound_to_its_node_and_body_and_taken_once(
    trio: Trio,
) -> None:
    career(trio)
    body = {"pwid": PWID, "at": "2040-01-01"}
    auth = _signed(trio, "MM-SSB", body)
    assert _post(trio, "TH-SSO", body, auth)[0] == 200
    # The same signed request again, within its time window: refused, whoever sends it.
    status, answer = _post(trio, "TH-SSO", body, auth)
    assert (status, answer["error"]["code"]) == (401, "replayed_request"), answer
    # The same ask signed anew (another nonce) is another request: answered.
    assert _post(trio, "TH-SSO", body, _signed(trio, "MM-SSB", body))[0] == 200
    # Another body under a signature: refused before anything is read or decided.
    other = {**body, "at": "2041-01-01"}
    status, answer = _post(trio, "TH-SSO", other, _signed(trio, "MM-SSB", body))
    assert (status, answer["error"]["code"]) == (401, "body_mismatch"), answer
    assert "not the one that was signed" in answer["error"]["message"]
    # Nor does a request signed for TH-SSO's node count at MY-PERKESO's.
    status, answer = _post(trio, "MY-PERKESO", body, _signed(trio, "MM-SSB", body))
    assert (status, answer["error"]["code"]) == (401, "wrong_audience"), answer
    # A refused request leaves no trace in the guard: only granted ones are remembered.
    assert len(trio.nodes["MY-PERKESO"].replays) == 0
    assert len(trio.nodes["TH-SSO"].replays) == 2


def test_a_recorded_decision_names_its_basis(trio: Trio) -> None:
    career(trio)
    body = {"pwid": PWID, "at": "2040-01-01", "record": True, "id": "decision-1"}
    status, answer = _post(trio, "TH-SSO", body)
    assert status == 200, answer
    ent = answer["entitlement"]
    assert ent["issuer"] == "TH-SSO" and ent["type"] == "entitlement"
    basis = ent["body"]["basis"]
    assert basis["decision"] == _digest(answer["decision"])
    [log] = basis["logs"]
    assert log["origin"] == "sso.go.th/pel" and len(log["indexes"]) == len(
        answer["decision"]["basis"]
    )
    due = _figures(answer["decision"], "TH")["amount_due"]
    assert Decimal(ent["body"]["amount"]) == Decimal(due)
    # With a birth date, the decision is not logged.
    status, answer = _post(trio, "TH-SSO", {**body, "id": "d2", "birth_date": "1970-01-01"})
    assert (status, answer["error"]["code"]) == (422, "birth_date_not_logged")


def _digest(decision: dict) -> str:
    import hashlib

    from pel.crypto.jcs import canonicalize

    return hashlib.sha256(canonicalize(decision)).hexdigest()


def test_a_node_that_mirrors_the_others_totalises(trio: Trio, tmp_path: Path) -> None:
    """TH-SSO mirrors MM-SSB's and MY-PERKESO's logs: the decision adds up the career
    (figures worked in ``tests.node.decision_kit``), and equals ``pel entitle`` on a
    bundle merged from every member's part."""
    from tests.node.test_mirror_bundle_parts import mirror

    career(trio)
    for of in ("MM-SSB", "MY-PERKESO"):
        mirror(trio, "TH-SSO", of)
    status, answer = _post(trio, "TH-SSO", {"pwid": PWID, "at": "2040-01-01"})
    assert status == 200, answer
    d = answer["decision"]
    th, my = _figures(d, "TH"), _figures(d, "MY")
    assert th["totalised_months"] == my["totalised_months"] == 204
    assert th["national_amount"] == "900.00"
    assert th["theoretical_amount"] == "1700.00" and th["pro_rata_fraction"] == "109/204"
    assert th["pro_rata_amount"] == th["amount_due"] == "908.33"
    assert my["qualifies_alone"] is False and my["qualifies_with_totalisation"] is True
    assert my["pro_rata_fraction"] == "95/204" and my["amount_due"] == "395.83"
    # Before the agreement is in force (2027-01-01): no totalisation.
    status, before = _post(trio, "TH-SSO", {"pwid": PWID, "at": "2026-12-31"})
    assert _figures(before["decision"], "TH")["amount_due"] == "900.00"
    assert _figures(before["decision"], "MY")["amount_due"] == "0"
    # Offline, from the parts of every member's node merged into one bundle.
    parts = [build_part(n, PWID).bundle for n in trio.nodes.values()]
    merged = merge_bundles(parts, trio.trust_list)
    path = tmp_path / "merged.json"
    path.write_bytes(merged.to_bytes())
    code, out, err = run(
        "entitle", str(path), "--trust", str(trio.trust_file), "--at", "2040-01-01", "--json"
    )
    assert code == 0, err
    offline = json.loads(out)
    assert [(s["state"], s["figures"]) for s in offline["states"]] == [
        (s["state"], s["figures"]) for s in d["states"]
    ]
