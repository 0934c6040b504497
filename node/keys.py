"""Storing and loading a node's private keys (PEM files created 0600, never logged)."""

from __future__ import annotations

import os
from pathlib import Path

from crypto.errors import KeyFormatError
from crypto.keys import SigningKey
from node.errors import ConfigError


def write_private_key(path: Path, key: SigningKey) -> None:
    """Create ``path`` with mode 0600 and write the key; refuse to overwrite."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as f:
        f.write(key.to_pem())


def read_private_key(path: Path) -> SigningKey:
    """Load a PEM key; refuse one that others can read."""
    try:
        mode = path.stat().st_mode & 0o777
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"key {path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        return SigningKey.from_pem(pem)
    except KeyFormatError as exc:
        raise ConfigError(f"key {path}: {exc.message}") from None
