"""C2SP tlog-cosignature: a witness's timestamped signature of a checkpoint.

Two types, each an ordinary signed-note line under the cosigner's name, whose bytes
are key ID ‖ big-endian uint64 timestamp ‖ signature:

* cosignature/v1 (type 0x04): an Ed25519 signature of ``cosignature/v1\\ntime <t>\\n``
  followed by the checkpoint text;
* ML-DSA-44 (type 0x06): an ML-DSA-44 signature of the binary ``cosigned_message``
  (label ``subtree/v1\\n\\0``, cosigner name, timestamp, origin, 0, size, root hash;
  see :mod:`pel.crypto.mldsa`).
"""

from __future__ import annotations

from pel.crypto import mldsa
from pel.crypto.errors import SignatureError
from pel.crypto.keys import SIGNATURE_SIZE, SigningKey
from pel.crypto.mldsa import MLDSASigningKey
from pel.crypto.note import (
    ALG_COSIGNATURE_V1,
    ALG_MLDSA44_COSIGNATURE,
    COSIGNATURE_ALGS,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    cosignature_message,
)


class CosignatureSigner(NoteSigner):
    """Cosigns checkpoints (cosignature/v1) at a given time (the caller supplies the clock)."""

    alg = ALG_COSIGNATURE_V1

    def __init__(self, name: str, key: SigningKey, timestamp: int = 0) -> None:
        super().__init__(name, key)
        cosignature_message(b"", timestamp)  # range check
        self.timestamp = timestamp

    def at(self, timestamp: int) -> CosignatureSigner:
        """The same cosigner, signing at ``timestamp`` (POSIX seconds)."""
        return type(self)(self.name, self.key, timestamp)  # type: ignore[arg-type]

    def message(self, text: bytes) -> bytes:
        return cosignature_message(text, self.timestamp)

    def sign(self, text: bytes) -> bytes:
        signature = self.key.sign(self.message(text))
        return self.timestamp.to_bytes(8, "big") + signature

    def cosign(self, text: bytes) -> NoteSignature:
        """The cosignature of a checkpoint body, as a note signature."""
        return NoteSignature(self.name, self.key_id, self.sign(text))


class MLDSACosignatureSigner(CosignatureSigner):
    """Cosigns checkpoints with ML-DSA-44 (signature type 0x06) at a given time."""

    alg = ALG_MLDSA44_COSIGNATURE

    def __init__(self, name: str, key: MLDSASigningKey, timestamp: int = 0) -> None:  # type: ignore[override]
        NoteSigner.__init__(self, name, key)
        cosignature_message(b"", timestamp)  # range check
        self.timestamp = timestamp

    def message(self, text: bytes) -> bytes:
        return mldsa.checkpoint_message(self.name, text, self.timestamp)


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The timestamp a cosignature (either type) carries."""
    if len(signature.payload) not in (8 + SIGNATURE_SIZE, 8 + mldsa.SIGNATURE_SIZE):
        raise SignatureError(f"cosignature of {signature.name!r} has a wrong length")
    return int.from_bytes(signature.payload[:8], "big")


def verify_cosignature(text: bytes, signature: NoteSignature, verifier: NoteVerifier) -> int:
    """Check a cosignature (type 0x04 or 0x06) over a checkpoint body; return its timestamp.

    Raises:
        SignatureError: wrong key type, name or ID, or the signature does not verify.
    """
    if verifier.alg not in COSIGNATURE_ALGS:
        raise SignatureError(f"{verifier.name!r} is not a cosignature key")
    if (signature.name, signature.key_id) != (verifier.name, verifier.key_id):
        raise SignatureError(f"the cosignature is not by {verifier.name!r}")
    if not verifier.verify(text, signature.payload):
        raise SignatureError(f"the cosignature of {verifier.name!r} does not verify")
    return cosignature_timestamp(signature)
