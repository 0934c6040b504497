"""Record signatures: Ed25519 over the RFC 8785 canonical JSON of the record minus ``sig``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from crypto.errors import SignatureError
from crypto.jcs import canonicalize
from crypto.keys import PublicKey, SigningKey


def record_signing_bytes(record: Mapping[str, Any]) -> bytes:
    """What an issuer signs: JCS of every field but ``sig``."""
    return canonicalize({k: v for k, v in record.items() if k != "sig"})


def sign_record(record: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """A copy of ``record`` with ``sig`` (standard base64 Ed25519) set by ``key``."""
    out = {k: v for k, v in record.items() if k != "sig"}
    out["sig"] = base64.b64encode(key.sign(record_signing_bytes(out))).decode()
    return out


def record_signature(record: Mapping[str, Any]) -> bytes:
    """The raw signature bytes of the record's ``sig``.

    Raises:
        SignatureError: missing or not standard base64.
    """
    sig = record.get("sig")
    if not isinstance(sig, str):
        raise SignatureError("the record carries no signature")
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the record's signature is not standard base64") from None
    # Unused trailing bits would give one signature several spellings (and entries).
    if base64.b64encode(raw).decode() != sig:
        raise SignatureError("the record's signature is not canonical base64")
    return raw


def verify_record(record: Mapping[str, Any], key: PublicKey) -> None:
    """Check the record's ``sig`` against ``key``.

    Raises:
        SignatureError: missing, malformed, or not this key's signature.
    """
    if not key.verify(record_signature(record), record_signing_bytes(record)):
        raise SignatureError("the record's signature does not verify with the issuer's key")
