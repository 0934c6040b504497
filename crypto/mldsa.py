"""ML-DSA-44 (FIPS 204) keys and the message of a C2SP ML-DSA-44 checkpoint cosignature.

c2sp.org/tlog-cosignature defines a second, post-quantum cosignature type beside
cosignature/v1: signature type 0x06, key ID SHA-256(name ‖ 0x0A ‖ 0x06 ‖ 1312-byte
public key)[:4], and a signature ``timestamp (u64, big-endian) ‖ 2420-byte ML-DSA-44
signature`` over the binary ``cosigned_message`` structure::

    struct {
        uint8 label[12] = "subtree/v1\\n\\0";
        opaque cosigner_name<1..2^8-1>;
        uint64 timestamp;
        opaque log_origin<1..2^8-1>;
        uint64 start;           /* 0 for a checkpoint */
        uint64 end;             /* the checkpoint's tree size */
        uint8 hash[32];         /* the checkpoint's root hash */
    } cosigned_message;

Unlike cosignature/v1 it commits to the cosigner's name and not to checkpoint
extension lines. Signatures use ML-DSA's pure mode with an empty context string.
Private keys are stored as PKCS#8 PEM (the 32-byte seed form), public keys raw.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.mldsa import (
    MLDSA44PrivateKey,
    MLDSA44PublicKey,
)

from pel.crypto.errors import KeyFormatError, SignatureError
from pel.crypto.keys import load_private_pem, private_pem

PUBLIC_KEY_SIZE = 1312
SIGNATURE_SIZE = 2420
LABEL = b"subtree/v1\n\x00"
_HASH_SIZE = 32


@dataclass(frozen=True, slots=True)
class MLDSAPublicKey:
    """An ML-DSA-44 public key (1312 raw bytes); hashable, comparable."""

    raw: bytes
    _key: MLDSA44PublicKey = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if len(self.raw) != PUBLIC_KEY_SIZE:
            raise KeyFormatError(
                f"an ML-DSA-44 public key is {PUBLIC_KEY_SIZE} bytes, got {len(self.raw)}"
            )
        try:
            key = MLDSA44PublicKey.from_public_bytes(self.raw)
        except ValueError:
            raise KeyFormatError("not an ML-DSA-44 public key") from None
        object.__setattr__(self, "_key", key)

    def __reduce__(self) -> tuple[type[MLDSAPublicKey], tuple[bytes]]:
        return MLDSAPublicKey, (self.raw,)

    def to_base64(self) -> str:
        return base64.b64encode(self.raw).decode()

    @classmethod
    def from_base64(cls, text: str) -> MLDSAPublicKey:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise KeyFormatError("public key is not standard base64") from None
        return cls(raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's ML-DSA-44 signature of ``message``."""
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"MLDSAPublicKey({self.to_base64()[:16]}…)"


class MLDSASigningKey:
    """An ML-DSA-44 private key. Its ``repr`` shows only the start of the public half."""

    __slots__ = ("_key", "public_key")

    def __init__(self, key: MLDSA44PrivateKey) -> None:
        self._key = key
        self.public_key = MLDSAPublicKey(key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> MLDSASigningKey:
        return cls(MLDSA44PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> MLDSASigningKey:
        """The key of a 32-byte FIPS 204 seed (deterministic keys for tests)."""
        if len(seed) != 32:
            raise KeyFormatError(f"an ML-DSA-44 seed is 32 bytes, got {len(seed)}")
        return cls(MLDSA44PrivateKey.from_seed_bytes(seed))

    @classmethod
    def from_pem(cls, pem: bytes) -> MLDSASigningKey:
        """Load an unencrypted PKCS#8 PEM ML-DSA-44 private key."""
        return cls(load_private_pem(pem, MLDSA44PrivateKey, "ML-DSA-44"))

    def to_pem(self) -> bytes:
        return private_pem(self._key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"MLDSASigningKey(public={self.public_key!r})"


def _opaque8(value: bytes, what: str) -> bytes:
    if not 1 <= len(value) <= 255:
        raise SignatureError(f"the {what} must be 1 to 255 bytes, got {len(value)}")
    return bytes([len(value)]) + value


def subtree_message(
    cosigner: str, timestamp: int, origin: str, start: int, end: int, root: bytes
) -> bytes:
    """The ``cosigned_message`` an ML-DSA-44 cosignature signs (see the module docstring).

    Raises:
        SignatureError: a field out of its range (names of 1-255 bytes, 32-byte hash,
            a timestamp below 2^63, ``start`` ≤ ``end``, a zero timestamp when
            ``start`` is not zero).
    """
    if not 0 <= timestamp < 2**63:
        raise SignatureError(f"cosignature timestamp {timestamp} is out of range")
    if not 0 <= start <= end < 2**64:
        raise SignatureError(f"subtree [{start}, {end}) is out of range")
    if start and timestamp:
        raise SignatureError("a subtree that does not start at 0 is signed with timestamp 0")
    if len(root) != _HASH_SIZE:
        raise SignatureError(f"a subtree hash is {_HASH_SIZE} bytes, got {len(root)}")
    return (
        LABEL
        + _opaque8(cosigner.encode(), "cosigner name")
        + timestamp.to_bytes(8, "big")
        + _opaque8(origin.encode(), "log origin")
        + start.to_bytes(8, "big")
        + end.to_bytes(8, "big")
        + root
    )


def checkpoint_fields(text: bytes) -> tuple[str, int, bytes]:
    """Origin, tree size and root hash of a checkpoint body (its first three lines).

    Strict like the checkpoint parser: canonical decimal size, canonical base64 of a
    32-byte hash.

    Raises:
        SignatureError: the text is not a checkpoint body.
    """
    lines = text.split(b"\n")
    if len(lines) < 4 or lines[-1] != b"":
        raise SignatureError("a cosigned checkpoint has an origin, a size and a hash line")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (size != b"0" and size.startswith(b"0")) or len(size) > 20:
        raise SignatureError("the checkpoint's size is not a canonical decimal")
    try:
        digest = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the checkpoint's root hash is not base64") from None
    if len(digest) != _HASH_SIZE or base64.b64encode(digest) != root:
        raise SignatureError("the checkpoint's root hash is not 32 bytes in canonical base64")
    try:
        return origin.decode("utf-8"), int(size), digest
    except UnicodeDecodeError:
        raise SignatureError("the checkpoint's origin is not UTF-8") from None


def checkpoint_message(cosigner: str, text: bytes, timestamp: int) -> bytes:
    """The ``cosigned_message`` for a whole checkpoint (start 0, end = its size)."""
    origin, size, root = checkpoint_fields(text)
    return subtree_message(cosigner, timestamp, origin, 0, size, root)
