"""Ed25519 keys (``cryptography``): signing keys stored as PKCS#8 PEM, raw public keys."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from pel.crypto.errors import KeyFormatError

_K = TypeVar("_K")

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def load_private_pem(pem: bytes, kind: type[_K], name: str) -> _K:
    """An unencrypted PKCS#8 PEM private key of the given ``kind`` (named ``name`` in the
    error): the one loader of every algorithm's signing keys.

    Raises:
        KeyFormatError: not such a PEM, or a key of another algorithm.
    """
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise KeyFormatError("not an unencrypted PKCS#8 PEM private key") from None
    if not isinstance(key, kind):
        raise KeyFormatError(f"the private key is not an {name} key")
    return key


def private_pem(key: Any) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (written 0600 by the caller)."""
    pem: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key (32 raw bytes); hashable, comparable."""

    raw: bytes
    # The key as ``cryptography`` holds it, made once: a mirror or an auditor checks
    # thousands of records with the same key.
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if len(self.raw) != PUBLIC_KEY_SIZE:
            raise KeyFormatError(f"an Ed25519 public key is 32 bytes, got {len(self.raw)}")
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.raw))

    def __reduce__(self) -> tuple[type[PublicKey], tuple[bytes]]:
        return PublicKey, (self.raw,)  # the raw bytes cross to other processes, not ``_key``

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        return cls(bytes(raw))

    @classmethod
    def from_base64(cls, text: str) -> PublicKey:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise KeyFormatError("public key is not standard base64") from None
        if base64.b64encode(raw).decode() != text:
            raise KeyFormatError("public key is not canonical base64")
        return cls(raw)

    def to_base64(self) -> str:
        return base64.b64encode(self.raw).decode()

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"PublicKey({self.to_base64()})"


class SigningKey:
    """An Ed25519 private key. Its ``repr`` shows only the public half."""

    __slots__ = ("_key", "public_key")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = PublicKey(
            key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """The key of a 32-byte RFC 8032 seed (for test vectors and the Go key format)."""
        if len(seed) != 32:
            raise KeyFormatError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        """Load an unencrypted PKCS#8 PEM Ed25519 private key."""
        return cls(load_private_pem(pem, Ed25519PrivateKey, "Ed25519"))

    def to_pem(self) -> bytes:
        return private_pem(self._key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_key.to_base64()})"
