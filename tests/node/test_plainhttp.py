"""Tiles and entry bundles read through ``http.client`` (``node.plainhttp``): the same bytes
and the same errors as through ``httpx``, a connection the server dropped is reopened,
and ``httpx`` is kept wherever it does something this does not (transports, proxies)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from pel.node.errors import PeerError
from pel.node.peers.client import LogClient, RemoteError
from pel.node.peers.keepalive_http import PlainGetter
from tests.conftest import free_port


class _Handler(BaseHTTPRequestHandler):
    """Answers ``/prefix/tile/...`` with the path, anything else with a JSON 404; drops
    the connection after each answer without saying so when the server is ``rude``."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        if self.path.startswith("/prefix/tile/"):
            status, body = 200, self.path.encode()
        else:
            status, body = 404, b'{"error": {"code": "not_found", "message": "no such tile"}}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = self.server.rude  # type: ignore[attr-defined]

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _server(*, rude: bool = False) -> Iterator[tuple[str, list]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.rude = rude  # type: ignore[attr-defined]
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/prefix", httpd.seen  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_tiles_and_bundles_come_through_plain_http_with_the_token() -> None:
    with _server() as (url, seen), LogClient(url, token="t0k") as client:
        assert client._plain is not None
        assert client.tile(0, 1) == b"/prefix/tile/0/001"
        assert client.entry_bundle(2, 7) == b"/prefix/tile/entries/002.p/7"
    assert [auth for _, auth in seen] == ["Bearer t0k", "Bearer t0k"]


def test_an_error_answer_is_a_remote_error_with_its_code() -> None:
    with (
        _server() as (url, _),
        LogClient(url.removesuffix("/prefix")) as client,
        pytest.raises(RemoteError) as caught,
    ):
        client.tile(0, 1)
    assert caught.value.status == 404 and caught.value.code == "not_found"


def test_a_connection_the_server_dropped_is_reopened() -> None:
    with _server(rude=True) as (url, seen), LogClient(url) as client:
        for n in range(5):
            assert client.tile(0, n) == f"/prefix/tile/0/{n:03d}".encode()
    assert len(seen) == 5


def test_an_unreachable_node_is_a_peer_error() -> None:
    with (
        LogClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client,
        pytest.raises(PeerError, match="cannot reach"),
    ):
        client.entry_bundle(0)


def test_httpx_is_kept_for_a_given_transport_and_behind_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with LogClient("http://node.example", transport=httpx.MockTransport(lambda r: None)) as c:
        assert c._plain is None
    for odd in ("ftp://node.example", "http://node.example/a b", "http://node.example/?x=1"):
        assert PlainGetter.for_url(odd, headers={}, timeout=1) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert PlainGetter.for_url("https://node.example", headers={}, timeout=1) is None
    assert PlainGetter.for_url("http://node.example", headers={}, timeout=1) is not None
    monkeypatch.setenv("NO_PROXY", "node.example")
    assert PlainGetter.for_url("https://node.example", headers={}, timeout=1) is not None
