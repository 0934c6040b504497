"""``pel audit`` decides again every entitlement record that names its basis: an honest
one passes, one whose amount was changed before signing is reported with the evidence."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pel.node.access.tokens import create_token
from pel.node.errors import AuditFailed
from pel.node.peers.remote_audit import audit_log
from pel.node.workers.decisions import decide_here, entitlement_draft
from tests.node import test_bundle_cli as kit
from tests.node.decision_kit import Federation, career

trio = kit.trio
Trio = kit.Trio
TH_URL = "http://127.0.0.1:9/TH"


def _auditor(trio: Trio) -> str:
    """An auditor token issued by TH-SSO's node (entries are read only with one)."""
    return create_token(trio.nodes["TH-SSO"].tokens, "TH-SSO", label="audit", role="auditor")


def _entitlement(trio: Trio, record_id: str, amount: str | None = None) -> dict:
    th = trio.nodes["TH-SSO"]
    made = decide_here(th, kit.PWID, at=dt.date(2040, 1, 1))
    draft = entitlement_draft(th, made, record_id)
    if amount is not None:
        draft["body"]["amount"] = amount  # what the state records, against its own rules
    th.submit([draft])
    return draft


def test_an_honest_entitlement_is_recomputed_and_passes(trio: Trio, tmp_path: Path) -> None:
    career(trio)
    honest = _entitlement(trio, "decision-honest")
    assert honest["body"]["amount"] == "900.00"
    trio.publish("TH-SSO")
    report = audit_log(
        TH_URL,
        tmp_path / "state",
        trio.trust_list,
        transport=Federation(trio),
        token=_auditor(trio),
    )
    assert report.entitlements == 1 and report.ok


def test_an_amount_changed_before_signing_is_reported(trio: Trio, tmp_path: Path) -> None:
    career(trio)
    _entitlement(trio, "decision-honest")
    _entitlement(trio, "decision-cheat", amount="800.00")
    trio.publish("TH-SSO")
    with pytest.raises(AuditFailed) as exc:
        audit_log(
            TH_URL,
            tmp_path / "state",
            trio.trust_list,
            transport=Federation(trio),
            token=_auditor(trio),
        )
    report = exc.value.report
    assert exc.value.code == "entitlement_mismatch"
    assert report.entitlements == 2
    [failure] = report.failures
    assert failure.evidence["entitlement"]["id"] == "decision-cheat"
    diff = failure.evidence["differences"]
    assert diff["amount"] == {"recorded": "800.00", "recomputed": "900.00"}
    assert failure.evidence["recomputed"][0]["figures"]["amount_due"]["value"] == "900.00"
    written = json.loads(Path(failure.file).read_text())
    assert written["code"] == "entitlement_mismatch" and "800.00" in failure.message


def test_a_basis_that_does_not_hold_is_reported(trio: Trio, tmp_path: Path) -> None:
    career(trio)
    th = trio.nodes["TH-SSO"]
    made = decide_here(th, kit.PWID, at=dt.date(2040, 1, 1))
    draft = entitlement_draft(th, made, "decision-bad-basis")
    log = draft["body"]["basis"]["logs"][0]
    log["root"] = "A" * 43 + "="  # a checkpoint the log never had
    th.submit([draft])
    trio.publish("TH-SSO")
    with pytest.raises(AuditFailed) as exc:
        audit_log(
            TH_URL,
            tmp_path / "state",
            trio.trust_list,
            transport=Federation(trio),
            token=_auditor(trio),
        )
    assert exc.value.code == "bad_basis"
    assert "not a prefix" in exc.value.report.failures[0].message
