"""A worker's holder key file: the Ed25519 key a worker keeps to read their own records.

The file (created 0600, never overwritten) is JSON, so that the worker page can read it
in the browser and import the key with WebCrypto::

    {"format": "pel-holder-key/v1", "pwid": "<PWID or null>",
     "public_key": "<base64 raw 32 bytes>", "private_key_pkcs8": "<base64 PKCS#8 DER>"}

``public_key`` is what the home agency puts in the worker's enrolment record as
``holder_key``; ``pwid``, when known, spares the worker typing it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path

from pel.crypto.errors import KeyFormatError
from pel.crypto.keys import SigningKey
from pel.ledger.records.fields import check_pwid
from pel.node.errors import ConfigError
from pel.node.trust.secret_files import read_private_key, write_secret

FORMAT = "pel-holder-key/v1"


@dataclass(frozen=True)
class HolderKey:
    key: SigningKey
    pwid: str | None


def _pkcs8_der(key: SigningKey) -> bytes:
    body = b"".join(key.to_pem().splitlines()[1:-1])
    return base64.b64decode(body)


def write_holder_key(path: Path, pwid: str | None = None) -> HolderKey:
    """Make a new holder key and write it to ``path`` (0600).

    Raises:
        ConfigError: ``path`` exists, or ``pwid`` is not a PWID.
    """
    if pwid is not None:
        try:
            check_pwid(pwid)
        except ValueError:
            raise ConfigError(f"{pwid[:40]!r} is not a PWID") from None
    key = SigningKey.generate()
    doc = {
        "format": FORMAT,
        "pwid": pwid,
        "public_key": key.public_key.to_base64(),
        "private_key_pkcs8": base64.b64encode(_pkcs8_der(key)).decode(),
    }
    try:
        write_secret(path, (json.dumps(doc, indent=2) + "\n").encode())
    except FileExistsError:
        raise ConfigError(f"{path} already exists; refusing to overwrite a key") from None
    return HolderKey(key, pwid)


def read_holder_key(path: Path) -> HolderKey:
    """A holder key file (this JSON format, or a PKCS#8 PEM key); refuse one others can read.

    Raises:
        ConfigError: unreadable, readable by others, or not a holder key.
    """
    data = path.read_bytes() if path.is_file() else b""
    if not data.lstrip().startswith(b"{"):
        return HolderKey(read_private_key(path), None)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"key {path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise ValueError
        der = base64.b64decode(doc["private_key_pkcs8"], validate=True)
        pem = (
            b"-----BEGIN PRIVATE KEY-----\n"
            + base64.encodebytes(der)
            + b"-----END PRIVATE KEY-----\n"
        )
        key = SigningKey.from_pem(pem)
        if key.public_key.to_base64() != doc["public_key"]:
            raise ValueError
        pwid = doc.get("pwid")
        if pwid is not None:
            check_pwid(pwid)
    except (ValueError, KeyError, TypeError, binascii.Error, KeyFormatError):
        raise ConfigError(f"{path} is not a {FORMAT} file") from None
    return HolderKey(key, pwid)
