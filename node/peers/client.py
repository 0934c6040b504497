"""A small HTTP client for a pel node's API (tlog-tiles reads, proofs, submissions).

``ServedTiles`` reads a log's tiles through it as a ``TileSource``, so proofs can be
built from what a node (or a mirror) serves. Transport failures and unexpected
answers become one project error, ``PeerError``;
a node's own error answers become ``RemoteError`` carrying its code and body.
Tests pass an ``httpx`` transport (ASGI or mock) instead of the network.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from pel.ledger.errors import ProofError
from pel.ledger.index import IndexProof
from pel.ledger.merkle.tiles import TILE_WIDTH, entries_path, tile_path
from pel.node.errors import PeerError
from pel.node.peers.keepalive_http import PlainGetter

if TYPE_CHECKING:
    from pel.node.filings.submit import SubmitReport


class RemoteError(PeerError):
    """The node answered with an error (``status``, ``code``, and the JSON ``body``)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        err = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(err.get("message", f"HTTP {status}"), code=err.get("code", "http_error"))
        self.status = status
        self.body = err


Signer = Callable[[str, str, bytes], str]
"""Gives the ``Authorization`` value of a request: ``sign(method, target, body)``, the
target as the server sees it (the base URL's path included, then ``?`` and the query as
sent when there is one). A signed request is good at one node only: the signer names
that node's agency (``crypto.request``)."""


class LogClient:
    """Reads and writes one node's log over HTTP.

    Args:
        base_url: The node's (or a mirror's) base URL.
        token: A token issued by *this* node (sent as ``Bearer`` with every request):
            never give it a client of another node.
        sign: Signs each request instead (``crypto.request``: a member's issuer key,
            for this node's agency).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        sign: Signer | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        try:
            url = httpx.URL(self.base_url)
        except httpx.InvalidURL as exc:
            raise PeerError(f"{base_url!r} is not a URL: {exc}", code="bad_url") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise PeerError(f"{base_url!r} is not an http(s) URL of a node", code="bad_url")
        self._sign = sign
        self._path_prefix = url.path.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        # Tiles and entry bundles, the bulk of a verify's requests, through plain
        # http.client when nothing stands between us and the network (see PlainGetter).
        self._plain = (
            PlainGetter.for_url(self.base_url, headers=headers, timeout=timeout)
            if transport is None
            else None
        )

    def close(self) -> None:
        self._http.close()
        if self._plain is not None:
            self._plain.close()

    def __enter__(self) -> LogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def target(self, path: str) -> str:
        """``path`` (with its query, if any) as the node sees it: the base URL's path first."""
        return self._path_prefix + path

    def _signed(self, method: str, target: str, body: bytes = b"") -> dict[str, str] | None:
        """The signed ``Authorization`` header of a request (None without a signer)."""
        if self._sign is None:
            return None
        return {"Authorization": self._sign(method, self.target(target), body)}

    def _get(self, path: str, **params: Any) -> httpx.Response:
        # The query is written here, once, so that what is signed is what is sent.
        target = f"{path}?{httpx.QueryParams(params)}" if params else path
        try:
            r = self._http.get(target, headers=self._signed("GET", target))
        except httpx.HTTPError as exc:
            raise PeerError(f"cannot reach {self.base_url}{path}: {exc}") from None
        return self._check(r)

    def _check(self, r: httpx.Response) -> httpx.Response:
        if r.is_success:
            return r
        try:
            body = r.json()
        except ValueError:
            body = {}
        raise RemoteError(r.status_code, body)

    def checkpoint(self) -> bytes:
        return self._get("/checkpoint").content

    def _get_bytes(self, path: str) -> bytes:
        if self._plain is None:
            return self._get(path).content
        status, body = self._plain.get(path, self._signed("GET", path))
        if 200 <= status < 300:
            return body
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        raise RemoteError(status, answer)

    def tile(self, level: int, index: int, width: int | None = None) -> bytes:
        return self._get_bytes("/" + tile_path(level, index, width))

    def entry_bundle(self, index: int, width: int | None = None) -> bytes:
        return self._get_bytes("/" + entries_path(index, width))

    def node_info(self) -> dict[str, Any]:
        return self._get("/v1/node").json()  # type: ignore[no-any-return]

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        body = self._get("/v1/proof/inclusion", index=index, tree_size=tree_size).json()
        return [base64.b64decode(h, validate=True) for h in body["hashes"]]

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        body = self._get("/v1/proof/consistency", first=first, second=second).json()
        return [base64.b64decode(h, validate=True) for h in body["hashes"]]

    def law(self, path: str, at: str | None = None) -> dict[str, Any]:
        """A public law read (``/v1/law/rules``, ``/v1/law/agreements`` …) as JSON."""
        params = {"at": at} if at else {}
        return self._get(f"/v1/law/{path}", **params).json()  # type: ignore[no-any-return]

    def index_proof(self, pwid: str, size: int) -> IndexProof:
        """The log's answer for ``pwid``'s list of indexes at checkpoint ``size``, as an
        index proof (unchecked: the caller verifies it against the committed root).

        Raises:
            PeerError: the answer is not an index proof.
        """
        body = self._get(f"/v1/index/{pwid}", size=size).json()
        try:
            return IndexProof.from_json(body["proof"])
        except (ProofError, KeyError, TypeError) as exc:
            raise PeerError(f"{self.base_url} answered no index proof: {exc}") from None

    def submit(self, records: list[Any], *, wait: bool = False) -> dict[str, Any]:
        try:
            r = self._http.post(
                "/v1/records", json=records, params={"wait": "true"} if wait else None
            )
        except httpx.HTTPError as exc:
            raise PeerError(f"cannot reach {self.base_url}/v1/records: {exc}") from None
        return self._check(r).json()  # type: ignore[no-any-return]

    def submit_body(self, body: bytes, *, wait: bool = False) -> dict[str, Any]:
        """:meth:`submit` for a batch already written as a JSON array (``body``)."""
        try:
            r = self._http.post(
                "/v1/records",
                content=body,
                headers={"Content-Type": "application/json"},
                params={"wait": "true"} if wait else None,
            )
        except httpx.HTTPError as exc:
            raise PeerError(f"cannot reach {self.base_url}/v1/records: {exc}") from None
        return self._check(r).json()  # type: ignore[no-any-return]

    def submit_filing(
        self,
        rows: Iterable[tuple[int, Any]],
        *,
        batch_size: int = 1000,
        in_flight: int = 4,
        retries: int = 5,
        progress: Callable[[int], None] | None = None,
    ) -> SubmitReport:
        """Submit a back office's ``(line, record)`` rows in batches, ``in_flight`` at once,
        as ``pel submit`` does (see :func:`node.filings.submit.submit_rows`)."""
        from pel.node.filings.submit import submit_rows

        return submit_rows(
            self,
            rows,
            batch_size=batch_size,
            in_flight=in_flight,
            retries=retries,
            progress=progress,
        )

    def gossip(self, notes: list[bytes]) -> list[dict[str, Any]]:
        """Pass signed checkpoints on (``POST /v1/gossip``); the receiver's verdicts."""
        body = {"checkpoints": [n.decode() for n in notes]}
        try:
            r = self._http.post("/v1/gossip", json=body)
        except httpx.HTTPError as exc:
            raise PeerError(f"cannot reach {self.base_url}/v1/gossip: {exc}") from None
        return self._check(r).json()["results"]  # type: ignore[no-any-return]

    def pwid_bundle(self, path: str, authorization: str) -> tuple[bytes, list[str], list[str]]:
        """A node's part of a worker's bundle at ``path``: its canonical bytes, the ids
        of records left out as not yet witnessed (the ``Pel-Pending`` header) and the
        mirrored logs left out as flagged for a proven fork (``Pel-Left-Out``)."""
        try:
            r = self._http.get(path, headers={"Authorization": authorization})
        except httpx.HTTPError as exc:
            raise PeerError(f"cannot reach {self.base_url}{path}: {exc}") from None
        r = self._check(r)
        pending = r.headers.get("pel-pending", "")
        left_out = r.headers.get("pel-left-out", "")
        return (
            r.content,
            [x for x in pending.split(",") if x],
            [x for x in left_out.split(",") if x],
        )


class ServedTiles:
    """A ``TileSource`` over a source's tiles as they stand at tree ``size``."""

    def __init__(self, client: LogClient, size: int) -> None:
        self._client = client
        self._size = size

    def read_tiles(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        for level, index in coords:
            count = (self._size >> (8 * level)) - index * TILE_WIDTH
            width = None if count >= TILE_WIDTH else count
            if count <= 0:
                raise ProofError(f"tile {level}/{index} is beyond tree size {self._size}")
            out.append(self._client.tile(level, index, width))
        return out
