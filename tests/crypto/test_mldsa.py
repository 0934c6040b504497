"""ML-DSA-44 checkpoint cosignatures (C2SP tlog-cosignature, type 0x06): an independent
implementation's vector, the message layout, key IDs, vkeys and refusals."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import pytest

from pel.crypto import mldsa
from pel.crypto.cosignature import (
    CosignatureSigner,
    MLDSACosignatureSigner,
    cosignature_timestamp,
    verify_cosignature,
)
from pel.crypto.errors import KeyFormatError, SignatureError
from pel.crypto.keys import SigningKey
from pel.crypto.mldsa import MLDSASigningKey, checkpoint_message, subtree_message
from pel.crypto.note import (
    ALG_MLDSA44_COSIGNATURE,
    NoteSignature,
    NoteVerifier,
    open_note,
    parse_note,
    parse_vkey,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "mldsa44"
T = 1_700_000_000
ROOT = hashlib.sha256(b"root").digest()
CHECKPOINT = b"example.com/log\n42\n" + base64.b64encode(ROOT) + b"\n"
WITNESS = "witness.example/pq"


@pytest.fixture(scope="module")
def pq() -> MLDSACosignatureSigner:
    return MLDSACosignatureSigner(WITNESS, MLDSASigningKey.from_seed(b"\x42" * 32), T)


def test_independent_vector_verifies() -> None:
    vkey = (VECTORS / "torchwood-log.vkey").read_text().strip()
    note = (VECTORS / "torchwood-checkpoint.txt").read_bytes()
    verifier = parse_vkey(vkey)
    assert verifier.alg == ALG_MLDSA44_COSIGNATURE
    assert verifier.key_id.hex() == "b5df45c5"
    assert verifier.vkey == vkey
    assert open_note(note, [verifier]).verified == (verifier,)
    sig = parse_note(note).signatures[0]
    assert cosignature_timestamp(sig) == 0
    # One flipped bit anywhere in the signature, or in the root, is refused.
    for where in (8, 100, len(sig.payload) - 1):
        bad = bytearray(sig.payload)
        bad[where] ^= 1
        assert not verifier.verify(parse_note(note).text, bytes(bad))
    text = parse_note(note).text.replace(b"+zoE", b"+zoF")
    assert not verifier.verify(text, sig.payload)


def test_message_layout_matches_the_specification() -> None:
    want = (
        b"subtree/v1\n\x00"
        + bytes([len(WITNESS)])
        + WITNESS.encode()
        + struct.pack(">Q", T)
        + bytes([len("example.com/log")])
        + b"example.com/log"
        + struct.pack(">QQ", 0, 42)
        + ROOT
    )
    assert checkpoint_message(WITNESS, CHECKPOINT, T) == want
    assert subtree_message(WITNESS, T, "example.com/log", 0, 42, ROOT) == want


def test_extension_lines_are_not_signed(pq: MLDSACosignatureSigner) -> None:
    sig = pq.cosign(CHECKPOINT)
    assert verify_cosignature(CHECKPOINT + b"extension line\n", sig, pq.verifier) == T


def test_key_id_and_vkey(pq: MLDSACosignatureSigner) -> None:
    raw = pq.key.public_key.raw
    assert len(raw) == 1312
    want = hashlib.sha256(WITNESS.encode() + b"\n\x06" + raw).digest()[:4]
    assert pq.key_id == want
    data = base64.b64encode(b"\x06" + raw).decode()
    assert pq.vkey == f"{WITNESS}+{want.hex()}+{data}"
    assert parse_vkey(pq.vkey) == pq.verifier


def test_sign_and_verify(pq: MLDSACosignatureSigner) -> None:
    sig = pq.cosign(CHECKPOINT)
    assert len(sig.payload) == 8 + 2420
    assert sig.payload[:8] == struct.pack(">Q", T)
    assert verify_cosignature(CHECKPOINT, sig, pq.verifier) == T
    assert pq.key.public_key.verify(sig.payload[8:], checkpoint_message(WITNESS, CHECKPOINT, T))


@pytest.mark.parametrize("where", [0, 7, 8, 500, 2427])
def test_flipped_bit_is_refused(pq: MLDSACosignatureSigner, where: int) -> None:
    sig = pq.cosign(CHECKPOINT)
    bad = bytearray(sig.payload)
    bad[where] ^= 0x01
    with pytest.raises(SignatureError):
        verify_cosignature(CHECKPOINT, NoteSignature(sig.name, sig.key_id, bytes(bad)), pq.verifier)


def test_the_name_is_signed(pq: MLDSACosignatureSigner) -> None:
    """The same key under another name does not verify: the message commits to the name."""
    sig = pq.cosign(CHECKPOINT)
    other = NoteVerifier("witness.example/other", ALG_MLDSA44_COSIGNATURE, pq.key.public_key)
    with pytest.raises(SignatureError):
        verify_cosignature(CHECKPOINT, NoteSignature(other.name, other.key_id, sig.payload), other)


def test_types_do_not_cross(pq: MLDSACosignatureSigner) -> None:
    ed = CosignatureSigner(WITNESS, SigningKey.from_seed(b"\x01" * 32), T)
    with pytest.raises(SignatureError):
        verify_cosignature(CHECKPOINT, ed.cosign(CHECKPOINT), pq.verifier)
    with pytest.raises(SignatureError):
        verify_cosignature(CHECKPOINT, pq.cosign(CHECKPOINT), ed.verifier)
    with pytest.raises(KeyFormatError):
        NoteVerifier(WITNESS, ALG_MLDSA44_COSIGNATURE, ed.key.public_key)


def test_bad_vkeys_are_refused(pq: MLDSACosignatureSigner) -> None:
    name, hexid, data = pq.vkey.split("+", 2)
    raw = base64.b64decode(data)
    for bad in (raw[:-1], raw + b"\0"):
        with pytest.raises(KeyFormatError):
            parse_vkey(f"{name}+{hexid}+{base64.b64encode(bad).decode()}")
    with pytest.raises(KeyFormatError):
        parse_vkey(f"{name}+00000000+{data}")


def test_pem_round_trip(pq: MLDSACosignatureSigner) -> None:
    key = MLDSASigningKey.from_pem(pq.key.to_pem())
    assert key.public_key == pq.key.public_key
    with pytest.raises(KeyFormatError):
        MLDSASigningKey.from_pem(SigningKey.generate().to_pem())
    with pytest.raises(KeyFormatError):
        SigningKey.from_pem(pq.key.to_pem())


def test_message_ranges() -> None:
    with pytest.raises(SignatureError):
        subtree_message("", T, "o", 0, 1, ROOT)
    with pytest.raises(SignatureError):
        subtree_message("w", 2**63, "o", 0, 1, ROOT)
    with pytest.raises(SignatureError):
        subtree_message("w", T, "o", 1, 2, ROOT)  # a subtree not at 0 has timestamp 0
    with pytest.raises(SignatureError):
        subtree_message("w", T, "o", 0, 1, ROOT[:31])
    with pytest.raises(SignatureError):
        mldsa.checkpoint_fields(b"o\n01\n" + base64.b64encode(ROOT) + b"\n")
