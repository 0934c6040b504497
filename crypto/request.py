"""Signed HTTP requests: an agency (its issuer key) or a worker (their holder key) proves
who asks, without a shared secret.

The signed message is ``pel-request/v1\\n<METHOD> <path>\\n<unix time>\\n``; the
``Authorization`` header carries it as one of::

    Pel-Agency agency=<agency id>,time=<unix seconds>,sig=<base64 Ed25519>
    Pel-Holder time=<unix seconds>,sig=<base64 Ed25519>

Parsing and checking the signature are pure; whether the time is fresh and whether
the signer may see the resource are the node's rules.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from pel.crypto.errors import SignatureError
from pel.crypto.keys import SIGNATURE_SIZE, PublicKey, SigningKey

CONTEXT = "pel-request/v1"
AGENCY_SCHEME = "Pel-Agency"
HOLDER_SCHEME = "Pel-Holder"
_TIME = re.compile(r"0|[1-9][0-9]{0,11}")
_PARAM = re.compile(r"([a-z]+)=([^,\s]+)")


def request_message(method: str, path: str, time: int) -> bytes:
    """What a request signature covers."""
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise SignatureError(f"{path!r} is not a request path")
    return f"{CONTEXT}\n{method.upper()} {path}\n{time}\n".encode()


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A parsed ``Pel-Agency`` or ``Pel-Holder`` authorization."""

    scheme: str
    time: int
    sig: bytes
    agency: str | None = None

    def verify(self, key: PublicKey, method: str, path: str) -> bool:
        return key.verify(self.sig, request_message(method, path, self.time))


def sign_request(
    key: SigningKey, method: str, path: str, time: int, *, agency: str | None = None
) -> str:
    """The ``Authorization`` header value: ``Pel-Agency`` when ``agency`` is given,
    else ``Pel-Holder``."""
    sig = base64.b64encode(key.sign(request_message(method, path, time))).decode()
    if agency is not None:
        return f"{AGENCY_SCHEME} agency={agency},time={time},sig={sig}"
    return f"{HOLDER_SCHEME} time={time},sig={sig}"


def parse_authorization(header: str) -> SignedRequest:
    """Parse a ``Pel-Agency``/``Pel-Holder`` header value strictly.

    Raises:
        SignatureError: another scheme, missing or repeated parameters, bad values.
    """
    scheme, _, rest = header.strip().partition(" ")
    want = {AGENCY_SCHEME: {"agency", "time", "sig"}, HOLDER_SCHEME: {"time", "sig"}}.get(scheme)
    if want is None:
        raise SignatureError(f"unknown authorization scheme {scheme!r}")
    params: dict[str, str] = {}
    for part in rest.split(","):
        m = _PARAM.fullmatch(part.strip())
        if not m or m.group(1) in params:
            raise SignatureError(f"malformed {scheme} parameter {part.strip()[:40]!r}")
        params[m.group(1)] = m.group(2)
    if set(params) != want:
        raise SignatureError(f"{scheme} takes exactly {', '.join(sorted(want))}")
    if not _TIME.fullmatch(params["time"]):
        raise SignatureError("time must be unix seconds")
    try:
        sig = base64.b64decode(params["sig"], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("sig is not base64") from None
    if len(sig) != SIGNATURE_SIZE or base64.b64encode(sig).decode() != params["sig"]:
        raise SignatureError("sig is not a canonical base64 Ed25519 signature")
    return SignedRequest(scheme, int(params["time"]), sig, params.get("agency"))
