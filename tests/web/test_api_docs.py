"""``/docs`` and ``/redoc`` work with no network: in Chromium, with every request to
anything but the node refused, Swagger UI lists every operation of the API and ReDoc
renders them; the pages name no other host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pel.api.app import create_app
from pel.node.agency_node import Node
from tests.conftest import serve
from tests.web.test_pages import WAIT_MS, browser  # noqa: F401 (fixture)

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture
def node_url(sqlite_node: tuple[Node, str]) -> Iterator[str]:
    node, _ = sqlite_node
    with serve(create_app(node)) as url:
        yield url


def operations(url: str) -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the node's OpenAPI document."""
    spec = httpx.get(url + "/openapi.json").json()
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    )


@pytest.fixture
def offline_page(browser: Any, node_url: str) -> Iterator[tuple[Any, list[str]]]:  # noqa: F811
    """A page that may reach the node and nothing else; the refused URLs are listed."""
    context = browser.new_context()
    refused: list[str] = []

    def only_the_node(route: Any) -> None:
        if route.request.url.startswith(node_url + "/"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_node)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page, refused
    finally:
        context.close()
    assert not errors, errors


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_pages_name_no_other_host(node_url: str, path: str) -> None:
    page = httpx.get(node_url + path)
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert re.findall(r"(?:https?:)?//[\w.-]+", page.text) == []
    for asset in re.findall(r'(?:src|href|url)\s*[=:]\s*[\'"]([^\'"]+)[\'"]', page.text):
        assert asset.startswith("/"), asset
        assert httpx.get(node_url + asset).status_code == 200, asset


def test_swagger_ui_lists_every_operation_offline(
    offline_page: tuple[Any, list[str]], node_url: str
) -> None:
    page, refused = offline_page
    page.goto(node_url + "/docs")
    page.wait_for_selector(".opblock")
    shown = sorted(
        (
            block.query_selector(".opblock-summary-method").inner_text().strip(),
            block.query_selector(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in page.query_selector_all(".opblock")
    )
    expected = operations(node_url)
    assert len(expected) > 10
    assert shown == expected
    assert refused == []


def test_redoc_renders_every_operation_offline(
    offline_page: tuple[Any, list[str]], node_url: str
) -> None:
    page, refused = offline_page
    page.goto(node_url + "/redoc")
    page.wait_for_selector("[data-section-id^='operation/']")
    sections = page.query_selector_all("[data-section-id^='operation/']")
    assert len(sections) == len(operations(node_url))
    assert "pel node" in page.inner_text("body")
    assert refused == []
