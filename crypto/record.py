"""Record signatures: Ed25519 over the RFC 8785 canonical JSON of the record minus ``sig``.

A node signs thousands of records a second, and each needs two encodings: its
signing bytes (without ``sig``) and its entry (with it). ``record_cut``
encodes the record once and finds where ``sig`` sorts in it, and
``signed_entry`` splices the signature in there. The other way round, a mirror or
an auditor reads entries it did not write: ``read_entry`` checks that an entry is
a record's canonical JSON and cuts its signing bytes out of it, again with one
encoding.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from pel.crypto.errors import CanonicalJSONError, SignatureError
from pel.crypto.jcs import canonical_cut, canonicalize, insert_member, parse_canonical
from pel.crypto.keys import PublicKey, SigningKey

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def record_cut(record: Mapping[str, Any]) -> tuple[bytes, int]:
    """The record's signing bytes (its canonical JSON without ``sig``), and the offset
    in them where ``sig`` belongs, for :func:`signed_entry`.

    Raises:
        CanonicalJSONError: the record holds something JSON cannot carry exactly.
    """
    return canonical_cut(record, "sig")


def signed_entry(signing_bytes: bytes, offset: int, sig: str) -> bytes:
    """The signed record's canonical JSON, from :func:`record_cut` and its ``sig``.

    ``sig`` must be standard base64 (as :func:`record_signature` checks, or as
    :func:`encode_signature` writes): its characters need no escaping in JSON.

    Raises:
        SignatureError: ``sig`` is not made of base64 characters.
    """
    member = _sig_member(sig)
    if member is None:
        raise SignatureError("the record's signature is not standard base64")
    return insert_member(signing_bytes, offset, member)


def _sig_member(sig: object) -> bytes | None:
    """``"sig":"…"`` as it stands in a canonical entry, for a base64 ``sig`` (whose
    characters need no escaping); None for anything else."""
    if type(sig) is not str or not _BASE64.fullmatch(sig):
        return None
    return b'"sig":"' + sig.encode() + b'"'


def read_entry(entry: bytes) -> tuple[dict[str, Any], bytes]:
    """A log entry read back as a record: the record, and its signing bytes.

    The entry must be the record's RFC 8785 canonical JSON. The signing bytes are
    then the entry with its ``sig`` member cut out, the same bytes as
    :func:`record_signing_bytes` (which would encode the record a second time). The
    signature itself is left to :func:`record_signature`.

    Raises:
        CanonicalJSONError: the entry is not an object in RFC 8785 canonical JSON.
    """
    record = parse_canonical(entry)
    if type(record) is not dict:
        raise CanonicalJSONError("not a record: a JSON object is expected")
    member = _sig_member(record.get("sig"))
    if member is not None:
        # Inside a string every quote is escaped, so ``"sig":"…"`` occurs only as a member;
        # when it occurs once, it is the record's own, and removing it with one of its
        # commas leaves the canonical JSON of the rest.
        at = entry.find(member)
        end = at + len(member)
        if at > 0 and entry.find(member, end) < 0:
            if entry[at - 1] == 0x2C:  # ","
                return record, entry[: at - 1] + entry[end:]
            if entry[end] == 0x2C:
                return record, entry[:at] + entry[end + 1 :]
            return record, b"{}"
    # No signature to cut, or a nested object holding the same one: encode again.
    return record, record_signing_bytes(record)


def encode_signature(raw: bytes) -> str:
    """A signature as a record's ``sig``: standard base64."""
    return binascii.b2a_base64(raw, newline=False).decode()


def record_signing_bytes(record: Mapping[str, Any]) -> bytes:
    """What an issuer signs: JCS of every field but ``sig``."""
    return canonicalize({k: v for k, v in record.items() if k != "sig"})


def sign_record(record: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """A copy of ``record`` with ``sig`` (standard base64 Ed25519) set by ``key``."""
    out = {k: v for k, v in record.items() if k != "sig"}
    out["sig"] = encode_signature(key.sign(record_signing_bytes(out)))
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
