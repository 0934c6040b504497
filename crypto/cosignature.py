"""C2SP tlog-cosignature (cosignature/v1): a witness's timestamped signature of a checkpoint.

The signature line is an ordinary signed-note line under the cosigner's name; its
bytes are key ID (type 0x04) ‖ big-endian uint64 timestamp ‖ Ed25519 signature of
``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint text.
"""

from __future__ import annotations

from pel.crypto.errors import SignatureError
from pel.crypto.keys import SigningKey
from pel.crypto.note import (
    ALG_COSIGNATURE_V1,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    cosignature_message,
)


class CosignatureSigner(NoteSigner):
    """Cosigns checkpoints at a given time (the caller supplies the clock)."""

    alg = ALG_COSIGNATURE_V1

    def __init__(self, name: str, key: SigningKey, timestamp: int = 0) -> None:
        super().__init__(name, key)
        cosignature_message(b"", timestamp)  # range check
        self.timestamp = timestamp

    def at(self, timestamp: int) -> CosignatureSigner:
        """The same cosigner, signing at ``timestamp`` (POSIX seconds)."""
        return CosignatureSigner(self.name, self.key, timestamp)

    def sign(self, text: bytes) -> bytes:
        signature = self.key.sign(cosignature_message(text, self.timestamp))
        return self.timestamp.to_bytes(8, "big") + signature

    def cosign(self, text: bytes) -> NoteSignature:
        """The cosignature of a checkpoint body, as a note signature."""
        return NoteSignature(self.name, self.key_id, self.sign(text))


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The timestamp a cosignature/v1 signature carries."""
    if len(signature.payload) != 72:
        raise SignatureError(f"cosignature of {signature.name!r} is not 72 bytes")
    return int.from_bytes(signature.payload[:8], "big")


def verify_cosignature(text: bytes, signature: NoteSignature, verifier: NoteVerifier) -> int:
    """Check a cosignature/v1 over a checkpoint body; return its timestamp.

    Raises:
        SignatureError: wrong key type, name or ID, or the signature does not verify.
    """
    if verifier.alg != ALG_COSIGNATURE_V1:
        raise SignatureError(f"{verifier.name!r} is not a cosignature/v1 key")
    if (signature.name, signature.key_id) != (verifier.name, verifier.key_id):
        raise SignatureError(f"the cosignature is not by {verifier.name!r}")
    if not verifier.verify(text, signature.payload):
        raise SignatureError(f"the cosignature of {verifier.name!r} does not verify")
    return cosignature_timestamp(signature)
