"""A state's rules through one node: ``pel rules validate|publish|show`` and ``/v1/law``.

A bad table is refused with the path of the field (CLI: one line and a code; HTTP: 4xx)
and changes nothing; the rules of another state are refused; ``show --at`` reads the
values in force before and after a dated change from the same log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pel.api.app import create_app
from pel.crypto.record import sign_record
from pel.ledger.errors import BatchError
from pel.ledger.federation.trust_list import SignedTrustList, TrustList
from pel.ledger.portability.agreements import sign_agreement
from pel.ledger.portability.shipped import shipped_table, shipped_text
from pel.node.agency_node import Node, init_node
from pel.node.law.publish import law_view, rules_draft
from pel.node.trust.chain import apply_version, member_entry
from tests.conftest import serve
from tests.ledger.portability.test_agreements import draft
from tests.node.test_cli import run

TABLES = Path(__file__).resolve().parents[2] / "ledger" / "portability" / "tables"


@pytest.fixture
def vn(tmp_path: Path) -> Iterator[tuple[str, Node, str]]:
    """Viet Nam's node on loopback, with its write token."""
    node, token = init_node(tmp_path / "vn", agency="VN-VSS", origin="vss.gov.vn/pel")
    with serve(create_app(node)) as url:
        yield url, node, token
    node.stop()


def one_error_line(err: str, code: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: ") and lines[0].endswith(f"[{code}]"), lines[0]
    return lines[0]


def test_validate_every_shipped_table() -> None:
    files = sorted(TABLES.glob("*.yaml"))
    assert len(files) == 10
    code, out, err = run("rules", "validate", *map(str, files))
    assert code == 0, err
    assert out.count("ok: ") == 10


def test_validate_refuses_a_missing_source_and_a_wrong_unit(tmp_path: Path) -> None:
    text = shipped_text("TH")
    no_source = tmp_path / "TH.yaml"
    # The pension age's only value loses its source list.
    no_source.write_text(
        text.replace(
            "            sources: [*ssptw2012, *oecd2018]\n", "            sources: []\n", 1
        )
    )
    code, _, err = run("rules", "validate", str(no_source))
    assert code == 1
    line = one_error_line(err, "missing_source")
    assert "branches.old_age.parameters.pension_age.values[0].sources" in line
    wrong_unit = tmp_path / "TH2.yaml"
    wrong_unit.write_text(
        text.replace("            value: 180\n", "            value: 15 years\n", 1)
    )
    code, _, err = run("rules", "validate", str(wrong_unit))
    assert code == 1
    line = one_error_line(err, "wrong_unit")
    assert "branches.old_age.parameters.qualifying_months.values[0].value" in line
    code, _, err = run("rules", "validate", str(tmp_path / "absent.yaml"))
    assert code == 1 and "Traceback" not in err


def test_show_at_reads_before_and_after_a_dated_change_from_the_same_log(
    vn: tuple[str, Node, str],
) -> None:
    url, node, token = vn
    code, out, err = run("rules", "publish", url, "--state", "VN", "--token", token)
    assert code == 0, err
    assert "published the rules of VN" in out
    seen = {}
    for day in ("2025-06-30", "2025-07-01"):
        code, out, err = run("rules", "show", url, "--at", day, "--json")
        assert code == 0, err
        got = json.loads(out)
        seen[day] = got["in_force"]["old_age"]["qualifying_months"]
        assert got["state"] == "VN" and got["at"] == day
        assert got["record"]["index"] == 0 and len(got["versions"]) == 1
    assert (seen["2025-06-30"]["value"], seen["2025-06-30"]["from"]) == (240, "2016-01-01")
    assert (seen["2025-07-01"]["value"], seen["2025-07-01"]["from"]) == (180, "2025-07-01")
    assert seen["2025-07-01"]["sources"][0]["status"] == "verified"
    # The table people read says the same.
    code, out, _ = run("rules", "show", url, "--at", "2025-06-30")
    row = next(
        line for line in out.splitlines() if "qualifying_months" in line and "old_age" in line
    )
    assert code == 0 and "240" in row and "2016-01-01" in row
    # Publishing the same table again is the same record.
    code, out, err = run("rules", "publish", url, "--state", "VN", "--token", token)
    assert code == 0 and "already in the log" in out, err
    assert node.log.tree_size() == 1


def test_the_rules_of_another_state_are_refused(vn: tuple[str, Node, str]) -> None:
    url, node, token = vn
    # As a draft: the node would sign it as VN-VSS, but the table is Thailand's.
    code, _, err = run("rules", "publish", url, "--state", "TH", "--token", token)
    assert code == 1
    assert "VN-VSS publishes the rules of its own state" in one_error_line(err, "foreign_state")
    r = httpx.post(
        url + "/v1/records",
        json=[rules_draft(shipped_table("TH"))],
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422
    [problem] = r.json()["error"]["records"]
    assert (problem["code"], problem["field"]) == ("foreign_state", "body.state")
    # Signed by Thailand's agency: not this log's issuer.
    from pel.crypto.keys import SigningKey

    th = sign_record(
        {**rules_draft(shipped_table("TH")), "v": 1, "issuer": "TH-SSO",
         "issued_at": "2026-12-07T00:00:00Z"},
        SigningKey.generate(),
    )  # fmt: skip
    with pytest.raises(BatchError) as exc:
        node.submit([th])
    assert exc.value.problems[0][1].code == "foreign_issuer"
    assert node.log.state() == (0, 0)


def test_a_bad_table_over_http_is_a_422_with_the_field(vn: tuple[str, Node, str]) -> None:
    url, node, token = vn
    draft = rules_draft(shipped_table("VN"))
    draft["body"]["branches"]["old_age"]["parameters"]["employee_rate"]["values"][0]["value"] = 0.08
    r = httpx.post(url + "/v1/records", json=[draft], headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422
    [problem] = r.json()["error"]["records"]
    assert problem["code"] == "wrong_unit"
    assert problem["field"] == "body.branches.old_age.parameters.employee_rate.values[0].value"
    draft = rules_draft(shipped_table("VN"))
    del draft["body"]["branches"]["old_age"]["parameters"]["pension_age"]["values"][3]["sources"]
    r = httpx.post(url + "/v1/records", json=[draft], headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422
    [problem] = r.json()["error"]["records"]
    assert (problem["code"], problem["field"]) == (
        "missing_field",
        "body.branches.old_age.parameters.pension_age.values[3].sources",
    )
    assert node.log.state() == (0, 0)  # nothing appended
    assert httpx.get(url + "/v1/law/rules").status_code == 404
    r = httpx.get(url + "/v1/law/rules", params={"at": "2025-13-01"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_date"


def test_show_reads_a_table_file_or_folder(tmp_path: Path) -> None:
    code, out, err = run("rules", "show", str(TABLES), "--state", "PH", "--at", "2024-06-01",
                         "--json")  # fmt: skip
    assert code == 0, err
    got = json.loads(out)
    assert got["in_force"]["old_age"]["employer_rate"]["value"] == "0.095"
    code, out, err = run("rules", "show", str(TABLES / "PH.yaml"), "--at", "2025-06-01", "--json")
    assert json.loads(out)["in_force"]["old_age"]["employer_rate"]["value"] == "0.10"
    code, _, err = run("rules", "show", str(TABLES), "--state", "PH", "--at", "June")
    assert code == 1 and "Traceback" not in err


def test_law_records_on_either_database(tmp_path: Path, db_url: str) -> None:
    """Rules, an agreement and a withdrawal, stored without a worker, on SQLite and
    PostgreSQL alike; an agreement is refused while the other party's key is unknown."""
    th_dir = tmp_path / "th"
    node, _ = init_node(th_dir, agency="TH-SSO", origin="sso.go.th/pel", database_url=db_url)
    my, _ = init_node(tmp_path / "my", agency="MY-PERKESO", origin="perkeso.gov.my/pel")
    try:
        members = (
            member_entry(node, name="TH-SSO", url="http://127.0.0.1:1"),
            member_entry(my, name="MY-PERKESO", url="http://127.0.0.1:2"),
        )
        record = draft(parties=["TH-SSO", "MY-PERKESO"])
        record = sign_agreement(record, "MY-PERKESO", my.issuer_key)
        record = sign_agreement(record, "TH-SSO", node.issuer_key)
        node.submit([rules_draft(shipped_table("TH"))])
        with pytest.raises(BatchError) as exc:  # no trust list: MY-PERKESO's key is unknown
            node.submit([record])
        assert exc.value.problems[0][1].code == "unknown_party"
        tl = TrustList(federation="t", version=1, members=members, witness_quorum=1, threshold=2)
        signed = SignedTrustList(tl).sign("TH-SSO", node.issuer_key)
        apply_version(th_dir, signed.sign("MY-PERKESO", my.issuer_key))
    finally:
        my.stop()
        node.stop()
    node = Node.open(th_dir)
    try:
        node.submit([record])
        withdrawal = {
            "type": "withdrawal",
            "id": "withdrawal-1",
            "body": {
                "agreement": {"issuer": "TH-SSO", "id": record["id"]},
                "effective": "2030-01-01",
            },
        }
        node.submit([withdrawal])
        node.log.integrate()
        view = law_view(node)
        kinds = [p.record["type"] for p in (*view.rules, *view.agreements, *view.withdrawals)]
        assert kinds == ["rules", "agreement", "withdrawal"]
        assert "pwid" not in view.agreements[0].record
        [shown] = view.agreements_at("2030-01-01")
        assert shown["parties_bound"] == ["MY-PERKESO"] and shown["in_force"] is False
    finally:
        node.stop()
