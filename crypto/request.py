"""Signed HTTP requests: an agency (its issuer key) or a worker (their holder key) proves
who asks, without a shared secret.

The ``Authorization`` header carries a signed request as one of (one line each)::

    Pel-Agency agency=<agency id>,aud=<audience>,time=<unix seconds>,
               nonce=<base64>,body=<base64>,sig=<base64>
    Pel-Holder aud=<audience>,time=<unix seconds>,nonce=<base64>,body=<base64>,sig=<base64>

(parameters in any order, each once, no spaces). The Ed25519 signature ``sig`` covers the
message (``pel-request/v2``), one field a line, each line ending in ``\\n``::

    pel-request/v2
    Pel-Agency <agency id>          (or: Pel-Holder)
    <audience>                      the agency whose node is asked, e.g. MY-PERKESO
    <METHOD> <path>[?<query>]       the query exactly as sent, when there is one
    <unix seconds>
    <nonce>                         base64 of 16 random bytes
    <body>                          base64 of the SHA-256 of the body (of b"" when none)

So a signature is good for one node, one method, one path and query, one body and one
moment: a node that receives it cannot replay it to another member's node, nor put
another body under it. The nonce makes two otherwise equal requests two signatures, so a
node that remembers the signatures of the requests that change something can refuse a
copy without refusing an honest repeat. The header repeats the audience and the body's
digest so that a node can say which of them does not match instead of only "bad
signature"; what counts is the signature over them.

The ``pel-request/v1`` header (``agency``, ``time`` and ``sig`` only, covering method,
path and time) is refused with the code ``outdated_request_signature``.

Parsing and checking the signature are pure; whether the audience is this node, the
body the one received, the time fresh and the nonce new, and whether the signer may see
the resource, are the node's rules.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from pel.crypto.errors import SignatureError
from pel.crypto.keys import SIGNATURE_SIZE, PublicKey, SigningKey

CONTEXT = "pel-request/v2"
AGENCY_SCHEME = "Pel-Agency"
HOLDER_SCHEME = "Pel-Holder"
SCHEMES = (AGENCY_SCHEME, HOLDER_SCHEME)
NONCE_SIZE = 16
OUTDATED = "outdated_request_signature"
_TIME = re.compile(r"0|[1-9][0-9]{0,11}")
_PARAM = re.compile(r"([a-z]+)=([^,\s]+)")
# An agency id or another node name: no space, comma or line break can hide in it.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_METHOD = re.compile(r"[A-Z]{1,16}")
_PARAMS = {
    AGENCY_SCHEME: frozenset({"agency", "aud", "time", "nonce", "body", "sig"}),
    HOLDER_SCHEME: frozenset({"aud", "time", "nonce", "body", "sig"}),
}
_V1_PARAMS = {
    AGENCY_SCHEME: frozenset({"agency", "time", "sig"}),
    HOLDER_SCHEME: frozenset({"time", "sig"}),
}


def body_digest(body: bytes) -> bytes:
    """The SHA-256 of a request body, as the signed message names it."""
    return hashlib.sha256(body).digest()


def request_message(
    *,
    signer: str | None,
    audience: str,
    method: str,
    target: str,
    time: int,
    nonce: bytes,
    body_sha256: bytes,
) -> bytes:
    """What a request signature covers (the layout is in the module docstring).

    Args:
        signer: The agency id for ``Pel-Agency``; None for ``Pel-Holder``.
        audience: The agency whose node the request is for.
        method: The HTTP method (upper case).
        target: The path, then ``?`` and the query as sent when there is one.
        time: Unix seconds.
        nonce: ``NONCE_SIZE`` random bytes.
        body_sha256: ``body_digest`` of the body.

    Raises:
        SignatureError: a field that would not fit its line.
    """
    if not _METHOD.fullmatch(method):
        raise SignatureError(f"{method!r} is not an HTTP method")
    if not target.startswith("/") or not target.isprintable() or " " in target:
        raise SignatureError(f"{target[:80]!r} is not a request path")
    for what, name in (("audience", audience), ("agency", signer)):
        if name is not None and not _NAME.fullmatch(name):
            raise SignatureError(f"{name[:80]!r} is not a valid {what}")
    if len(nonce) != NONCE_SIZE or len(body_sha256) != hashlib.sha256().digest_size:
        raise SignatureError("a request's nonce is 16 bytes and its body digest 32")
    who = HOLDER_SCHEME if signer is None else f"{AGENCY_SCHEME} {signer}"
    lines = (
        CONTEXT,
        who,
        audience,
        f"{method} {target}",
        str(time),
        _b64(nonce),
        _b64(body_sha256),
    )
    return "".join(line + "\n" for line in lines).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A parsed ``Pel-Agency`` or ``Pel-Holder`` authorization: what it claims, unchecked."""

    scheme: str
    audience: str
    time: int
    nonce: bytes
    body_sha256: bytes
    sig: bytes
    agency: str | None = None

    def covers_body(self, body: bytes) -> bool:
        """Whether ``body`` is the body whose digest the header names."""
        return hmac.compare_digest(body_digest(body), self.body_sha256)

    def message(self, method: str, target: str) -> bytes:
        """The message this header's signature must cover for ``method`` on ``target``."""
        return request_message(
            signer=self.agency if self.scheme == AGENCY_SCHEME else None,
            audience=self.audience,
            method=method,
            target=target,
            time=self.time,
            nonce=self.nonce,
            body_sha256=self.body_sha256,
        )

    def verify(self, key: PublicKey, method: str, target: str) -> bool:
        """Whether ``key`` signed this header for ``method`` on ``target``.

        The audience and body digest are the header's own: check them against the node
        and the body received (``audience``, ``covers_body``) before relying on this.
        """
        try:
            message = self.message(method, target)
        except SignatureError:
            return False  # a target no signer could have signed (a space, a control)
        return key.verify(self.sig, message)


def sign_request(
    key: SigningKey,
    method: str,
    target: str,
    time: int,
    *,
    audience: str,
    body: bytes = b"",
    agency: str | None = None,
    nonce: bytes | None = None,
) -> str:
    """The ``Authorization`` header value: ``Pel-Agency`` when ``agency`` is given,
    else ``Pel-Holder``.

    Args:
        key: The agency's issuer key or the worker's holder key.
        method: The HTTP method.
        target: The path as the node sees it, then ``?`` and the query exactly as sent
            when there is one.
        time: Unix seconds, now.
        audience: The agency whose node the request goes to (the trust list names it
            with the node's URL): the request is good there only.
        body: The request body exactly as sent.
        agency: The signing agency (``Pel-Agency``); None for the worker.
        nonce: ``NONCE_SIZE`` bytes; random when None (given only for fixed test vectors).
    """
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    digest = body_digest(body)
    message = request_message(
        signer=agency,
        audience=audience,
        method=method.upper(),
        target=target,
        time=time,
        nonce=nonce,
        body_sha256=digest,
    )
    fields = f"aud={audience},time={time},nonce={_b64(nonce)},body={_b64(digest)}"
    fields += f",sig={_b64(key.sign(message))}"
    if agency is not None:
        return f"{AGENCY_SCHEME} agency={agency},{fields}"
    return f"{HOLDER_SCHEME} {fields}"


def _canonical_b64(value: str, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what} is not base64") from None
    if len(raw) != size or _b64(raw) != value:
        raise SignatureError(f"{what} is not the canonical base64 of {size} bytes")
    return raw


def parse_authorization(header: str) -> SignedRequest:
    """Parse a ``Pel-Agency``/``Pel-Holder`` header value strictly.

    Raises:
        SignatureError: another scheme, missing or repeated parameters, bad values;
            code ``outdated_request_signature`` for a ``pel-request/v1`` header.
    """
    scheme, _, rest = header.strip().partition(" ")
    want = _PARAMS.get(scheme)
    if want is None:
        raise SignatureError(f"unknown authorization scheme {scheme!r}")
    params: dict[str, str] = {}
    for part in rest.split(","):
        m = _PARAM.fullmatch(part.strip())
        if not m or m.group(1) in params:
            raise SignatureError(f"malformed {scheme} parameter {part.strip()[:40]!r}")
        params[m.group(1)] = m.group(2)
    if set(params) == _V1_PARAMS[scheme]:
        raise SignatureError(
            f"this {scheme} header is signed in the outdated pel-request/v1 format, which "
            "names neither the node it is for nor the body; sign it as pel-request/v2 "
            "(an up-to-date pel, or the node's own /worker page)",
            code=OUTDATED,
        )
    if set(params) != want:
        raise SignatureError(f"{scheme} takes exactly {', '.join(sorted(want))}")
    if not _TIME.fullmatch(params["time"]):
        raise SignatureError("time must be unix seconds")
    for name in ("aud", "agency"):
        if name in params and not _NAME.fullmatch(params[name]):
            raise SignatureError(f"{name} is not an agency id")
    return SignedRequest(
        scheme,
        params["aud"],
        int(params["time"]),
        _canonical_b64(params["nonce"], NONCE_SIZE, "nonce"),
        _canonical_b64(params["body"], hashlib.sha256().digest_size, "body"),
        _canonical_b64(params["sig"], SIGNATURE_SIZE, "sig"),
        params.get("agency"),
    )
