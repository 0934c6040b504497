"""The web pages and ``/v1/federation`` without a browser: routes, the embedded trust list,
the standalone file ``pel web verifier`` writes, and the page's copies of schema lists."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.ledger.records import types
from pel.ledger.records.fields import COUNTRIES, CURRENCIES
from pel.node.agency_node import Node
from pel.node.web_pages import TRUST_SLOT, page, verifier_page
from tests.node.test_cli import run
from tests.node.test_federation_cli import fed  # noqa: F401 (fixture)

EMBEDDED = re.compile(r'<script type="application/json" id="pel-trust-list">(.*?)</script>', re.S)


def embedded(html: str) -> object:
    [data] = EMBEDDED.findall(html)
    return json.loads(data)


@pytest.fixture
def client(sqlite_node: tuple[Node, str]) -> Iterator[TestClient]:
    node, _token = sqlite_node
    with TestClient(create_app(node, start=False)) as c:
        yield c


def test_pages_sit_beside_the_api(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<title>pel: log explorer</title>" in r.text
    r = client.get("/verify")
    assert r.status_code == 200 and "connect-src" not in r.text  # the verifier fetches nothing
    assert embedded(r.text) is None  # a node outside a federation: the person loads a list
    r = client.get("/v1/federation")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/federation" in paths and "/" not in paths and "/verify" not in paths
    assert client.get("/v1/node").json()["agency"] == "MY-PERKESO"


def test_federation_and_the_verifier_carry_the_trust_list(
    fed: tuple[list[Path], Path],  # noqa: F811
) -> None:
    dirs, _ = fed
    node = Node.open(dirs[0])
    try:
        with TestClient(create_app(node, start=False)) as c:
            served = c.get("/v1/federation").json()
            page_html = c.get("/verify").text
    finally:
        node.stop()
    on_disk = json.loads((dirs[0] / "federation" / "1.json").read_text())
    assert served == on_disk
    assert served["trust_list"]["version"] == 1 and len(served["signatures"]) == 3
    assert embedded(page_html) == served


def test_embedded_json_cannot_close_its_script_element() -> None:
    hostile = {"trust_list": {"federation": "</script><script>alert(1)</script>"}}
    html = verifier_page(hostile)
    assert "</script><script>alert(1)" not in html
    assert embedded(html) == hostile
    assert TRUST_SLOT in page("verify.html")


def test_pages_are_self_contained() -> None:
    for name in ("verify.html", "explorer.html"):
        html = page(name)
        assert "http://" not in html and "https://" not in html, name
        assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html), name
        assert "Content-Security-Policy" in html and "default-src 'none'" in html


def _page_list(name: str) -> set[str]:
    m = re.search(rf'const {name} = new Set\("([^"]*)"', page("verify.html"))
    assert m, name
    return set(m.group(1).split(" "))


def _page_array(name: str) -> set[str]:
    m = re.search(rf"const {name} = \[([^\]]*)\]", page("verify.html"))
    assert m, name
    return set(re.findall(r'"([a-z_]+)"', m.group(1)))


def test_the_page_knows_the_record_schema_lists() -> None:
    """The verifier's copies of the code lists match ledger/records, so it refuses what
    the Python verifier refuses."""
    assert _page_list("COUNTRIES") == set(COUNTRIES)
    assert _page_list("CURRENCIES") == set(CURRENCIES)
    assert _page_array("BRANCHES") == set(typing.get_args(types.Branch))
    assert _page_array("REASONS") == set(typing.get_args(types.CorrectionReason))


def test_cli_writes_the_standalone_verifier(
    fed: tuple[list[Path], Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    _, root = fed
    out = tmp_path / "verify.html"
    code, stdout, err = run("web", "verifier", "--trust", str(root / "v1.json"), "--out", str(out))
    assert code == 0, err
    assert "asean-test trust list version 1" in stdout
    assert embedded(out.read_text())["trust_list"]["federation"] == "asean-test"  # type: ignore[index]
    bad = tmp_path / "bad.json"
    bad.write_text('{"trust_list": {}, "signatures": []}')
    code, _, err = run("web", "verifier", "--trust", str(bad), "--out", str(tmp_path / "x.html"))
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "x.html").exists()
