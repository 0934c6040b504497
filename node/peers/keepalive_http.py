"""Keep-alive GETs over the standard library's ``http.client``, for bulk tile reads.

Verifying or auditing a log reads two immutable tlog-tiles resources (an entry
bundle and its level-0 tile) per 256 entries, hundreds a second. Through an
``httpx.Client`` each costs about 430 µs of CPU on the reading side (request and
response models, cookie handling, ``httpcore`` and ``h11`` in pure Python); the
same GET through ``http.client`` costs about 125 µs, and the CPU the auditor saves
is CPU the signature checks get. :class:`LogClient` uses this for tiles and
bundles only when it talks to the network itself: not through a caller's
``httpx`` transport (tests, request counting), and not when the environment names
a proxy for the URL (``httpx`` honours those; this does not).

One connection per thread, reopened once when a kept-alive connection turns out
to have been closed by the server (a GET is safe to repeat).
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.parse
import urllib.request

import httpx

from pel.node.errors import PeerError


class PlainGetter:
    """GETs against one ``http``/``https`` origin; build it with :meth:`for_url`."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        prefix: str,
        headers: dict[str, str],
        timeout: float,
    ) -> None:
        self._scheme = scheme
        self._host = host
        self._port = port
        self._prefix = prefix
        self._headers = headers
        self._timeout = timeout
        self._ssl: ssl.SSLContext | None = None
        if scheme == "https":
            # The trust httpx itself would use (certifi, SSL_CERT_FILE/DIR).
            self._ssl = httpx.create_ssl_context()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[http.client.HTTPConnection] = []

    @classmethod
    def for_url(
        cls, base_url: str, *, headers: dict[str, str], timeout: float
    ) -> PlainGetter | None:
        """A getter for ``base_url``, or None when one should not be used (a scheme other
        than http(s), a query, a path that needs percent-encoding, or a proxy named in
        the environment for it)."""
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
            return None
        if not all(33 <= ord(c) < 127 for c in url.path):
            return None  # a path httpx would percent-encode first
        proxies = urllib.request.getproxies()
        if (url.scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(
            url.hostname
        ):
            return None
        try:
            port = url.port
        except ValueError:
            return None
        host = url.hostname if ":" not in url.hostname else f"[{url.hostname}]"
        return cls(url.scheme, host, port, url.path.rstrip("/"), headers, timeout)

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._ssl is not None:
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=self._ssl
                )
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @property
    def prefix(self) -> str:
        """The base URL's path, which every request path is appended to."""
        return self._prefix

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """``(status, body)`` of ``GET <base><path>`` (with ``headers`` added).

        Raises:
            PeerError: the server cannot be reached or broke the exchange off.
        """
        for attempt in (0, 1):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                conn.request(
                    "GET", self._prefix + path, headers={**self._headers, **(headers or {})}
                )
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                # A kept-alive connection the server had closed: one fresh try.
                if reused and attempt == 0 and _closed_by_peer(exc):
                    continue
                raise PeerError(
                    f"cannot reach {self._scheme}://{self._host}{self._prefix}{path}: {exc}"
                ) from None
            if response.will_close:
                conn.close()
            return response.status, body
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def _closed_by_peer(exc: BaseException) -> bool:
    return isinstance(
        exc,
        http.client.RemoteDisconnected
        | http.client.BadStatusLine
        | ConnectionResetError
        | BrokenPipeError,
    )
