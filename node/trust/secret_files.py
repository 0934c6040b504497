"""Storing and loading a node's secrets: its private keys and a saved write token (files
created 0600, never logged)."""

from __future__ import annotations

import os
from pathlib import Path

from pel.crypto.errors import KeyFormatError
from pel.crypto.keys import SigningKey
from pel.crypto.mldsa import MLDSASigningKey
from pel.node.errors import ConfigError

#: Where the quickstart and the demo keep a node's write token for their loaders.
TOKEN_FILE = "token"
#: Where the demo keeps an auditor token of each node, for ``pel audit --token``.
AUDITOR_TOKEN_FILE = "auditor-token"
#: The key that binds each row of the tokens table (``node.access.tokens``).
TOKEN_KEY_FILE = "token-key"


def write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and write ``data``.

    Raises:
        FileExistsError: ``path`` exists (a secret is never overwritten).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_private_key(path: Path, key: SigningKey | MLDSASigningKey) -> None:
    """Create ``path`` with mode 0600 and write the key; refuse to overwrite."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        write_secret(path, key.to_pem())
    except FileExistsError:
        raise ConfigError(f"{path} already exists; refusing to overwrite a key") from None


def save_token(directory: Path, token: str, name: str = TOKEN_FILE) -> None:
    """Keep a node's token in ``DIR/token`` (or ``DIR/<name>``, 0600) for a loader or
    an auditor on this machine."""
    write_secret(directory / name, (token + "\n").encode())


def read_token(directory: Path) -> str | None:
    """The write token kept by ``save_token``, or None if there is none."""
    path = directory / TOKEN_FILE
    return path.read_text().strip() if path.is_file() else None


def read_private_key(path: Path) -> SigningKey:
    """Load a PEM Ed25519 key; refuse one that others can read."""
    pem = read_secret(path)
    try:
        return SigningKey.from_pem(pem)
    except KeyFormatError as exc:
        raise ConfigError(f"key {path}: {exc.message}") from None


def read_mldsa_key(path: Path) -> MLDSASigningKey:
    """Load a PEM ML-DSA-44 key; refuse one that others can read."""
    pem = read_secret(path)
    try:
        return MLDSASigningKey.from_pem(pem)
    except KeyFormatError as exc:
        raise ConfigError(f"key {path}: {exc.message}") from None


def read_secret(path: Path, what: str = "key") -> bytes:
    """The bytes of a secret file; refuse one that others can read."""
    try:
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"{what} {path} is readable by others (mode {mode:o}); chmod 600 it")
    return data
