"""C2SP tlog-cosignature (cosignature/v1): message layout, payload, refusals, checkpoints."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pel.crypto.cosignature import CosignatureSigner, cosignature_timestamp, verify_cosignature
from pel.crypto.errors import SignatureError
from pel.crypto.keys import SigningKey
from pel.crypto.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    add_signatures,
    cosignature_message,
    open_note,
    parse_note,
    parse_vkey,
    sign_note,
)

T = 1_700_000_000
CHECKPOINT = b"example.com/log\n42\n" + base64.b64encode(hashlib.sha256(b"root").digest()) + b"\n"
WITNESS = "witness.example/w1"


@pytest.fixture(scope="module")
def witness() -> CosignatureSigner:
    return CosignatureSigner(WITNESS, SigningKey.from_seed(b"\x21" * 32), T)


@pytest.fixture(scope="module")
def log_signer() -> NoteSigner:
    return NoteSigner("example.com/log", SigningKey.from_seed(b"\x42" * 32))


def test_round_trip_with_fixed_timestamps(witness: CosignatureSigner) -> None:
    for ts in (0, 1, T, 2**32, 2**63 - 1):
        sig = witness.at(ts).cosign(CHECKPOINT)
        assert sig.name == WITNESS
        assert sig.key_id == witness.key_id
        assert verify_cosignature(CHECKPOINT, sig, witness.verifier) == ts
        assert cosignature_timestamp(sig) == ts


def test_at_does_not_change_the_original(witness: CosignatureSigner) -> None:
    later = witness.at(T + 60)
    assert witness.timestamp == T
    assert later.timestamp == T + 60
    assert later.key_id == witness.key_id
    assert later.name == witness.name


def test_signed_message_layout(witness: CosignatureSigner) -> None:
    sig = witness.cosign(CHECKPOINT)
    message = b"cosignature/v1\ntime 1700000000\n" + CHECKPOINT
    assert cosignature_message(CHECKPOINT, T) == message
    assert len(sig.payload) == 8 + 64
    assert sig.payload[:8] == T.to_bytes(8, "big") == bytes.fromhex("000000006553f100")
    # Check the raw Ed25519 signature independently of the code under test.
    pub = Ed25519PublicKey.from_public_bytes(witness.key.public_key.raw)
    pub.verify(sig.payload[8:], message)
    with pytest.raises(InvalidSignature):
        pub.verify(sig.payload[8:], CHECKPOINT)  # not a plain note signature
    with pytest.raises(InvalidSignature):
        pub.verify(sig.payload[8:], b"cosignature/v1\ntime 1700000001\n" + CHECKPOINT)


def test_cosigner_key_id_and_vkey_use_type_0x04(witness: CosignatureSigner) -> None:
    raw = witness.key.public_key.raw
    want = hashlib.sha256(WITNESS.encode() + b"\n\x04" + raw).digest()[:4]
    assert witness.key_id == want
    assert witness.verifier.alg == ALG_COSIGNATURE_V1
    name, hexid, data = witness.vkey.split("+", 2)
    assert (name, hexid) == (WITNESS, want.hex())
    assert base64.b64decode(data) == b"\x04" + raw
    assert parse_vkey(witness.vkey) == witness.verifier
    # Same name and key as plain Ed25519: a different key ID.
    assert NoteSigner(WITNESS, witness.key).key_id != witness.key_id


def test_signature_line_format(witness: CosignatureSigner) -> None:
    sig = witness.cosign(CHECKPOINT)
    line = sig.line()
    assert line.startswith(f"\u2014 {WITNESS} ")
    assert line.endswith("\n")
    assert base64.b64decode(line.split(" ")[2]) == witness.key_id + sig.payload
    assert witness.signature_line(CHECKPOINT) == line  # deterministic


def test_wrong_text_fails(witness: CosignatureSigner) -> None:
    sig = witness.cosign(CHECKPOINT)
    other = CHECKPOINT.replace(b"42\n", b"43\n")
    assert other != CHECKPOINT
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignature(other, sig, witness.verifier)


@pytest.mark.parametrize("ts", [T + 1, T - 1, 0, 2**63 - 1])
def test_wrong_timestamp_bytes_fail(witness: CosignatureSigner, ts: int) -> None:
    sig = witness.cosign(CHECKPOINT)
    moved = NoteSignature(sig.name, sig.key_id, ts.to_bytes(8, "big") + sig.payload[8:])
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignature(CHECKPOINT, moved, witness.verifier)


def test_timestamp_with_top_bit_set_fails_even_if_signed(witness: CosignatureSigner) -> None:
    ts = 2**63
    message = b"cosignature/v1\ntime %d\n" % ts + CHECKPOINT
    payload = ts.to_bytes(8, "big") + witness.key.sign(message)
    sig = NoteSignature(WITNESS, witness.key_id, payload)
    assert not witness.verifier.verify(CHECKPOINT, payload)
    with pytest.raises(SignatureError):
        verify_cosignature(CHECKPOINT, sig, witness.verifier)


def test_wrong_key_fails(witness: CosignatureSigner) -> None:
    impostor = CosignatureSigner(WITNESS, SigningKey.from_seed(b"\x22" * 32), T)
    sig = impostor.cosign(CHECKPOINT)
    with pytest.raises(SignatureError, match="not by"):
        verify_cosignature(CHECKPOINT, sig, witness.verifier)
    # Even dressed in the right key ID, the signature does not verify.
    dressed = NoteSignature(WITNESS, witness.key_id, sig.payload)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignature(CHECKPOINT, dressed, witness.verifier)


def test_other_name_fails(witness: CosignatureSigner) -> None:
    sig = witness.cosign(CHECKPOINT)
    renamed = NoteSignature("witness.example/w2", sig.key_id, sig.payload)
    with pytest.raises(SignatureError, match="not by"):
        verify_cosignature(CHECKPOINT, renamed, witness.verifier)


def test_ed25519_key_as_cosigner_verifier_fails(witness: CosignatureSigner) -> None:
    sig = witness.cosign(CHECKPOINT)
    ed = NoteVerifier(WITNESS, ALG_ED25519, witness.key.public_key)
    with pytest.raises(SignatureError, match="not a cosignature key"):
        verify_cosignature(CHECKPOINT, sig, ed)


def test_plain_ed25519_signature_is_not_a_cosignature(witness: CosignatureSigner) -> None:
    plain = witness.key.sign(CHECKPOINT)
    sig = NoteSignature(WITNESS, witness.key_id, plain)
    with pytest.raises(SignatureError):
        verify_cosignature(CHECKPOINT, sig, witness.verifier)
    with pytest.raises(SignatureError):
        cosignature_timestamp(sig)


@pytest.mark.parametrize("size", [0, 8, 64, 71, 73])
def test_wrong_payload_length_fails(witness: CosignatureSigner, size: int) -> None:
    payload = witness.cosign(CHECKPOINT).payload
    sig = NoteSignature(WITNESS, witness.key_id, (payload * 2)[:size])
    with pytest.raises(SignatureError):
        verify_cosignature(CHECKPOINT, sig, witness.verifier)
    with pytest.raises(SignatureError):
        cosignature_timestamp(sig)


@pytest.mark.parametrize("ts", [-1, -(2**63), 2**63, 2**64])
def test_out_of_range_timestamps_refused(witness: CosignatureSigner, ts: int) -> None:
    with pytest.raises(SignatureError, match="out of range"):
        CosignatureSigner(WITNESS, witness.key, ts)
    with pytest.raises(SignatureError, match="out of range"):
        witness.at(ts)
    with pytest.raises(SignatureError, match="out of range"):
        cosignature_message(CHECKPOINT, ts)


def test_checkpoint_signed_by_log_and_cosigned(
    witness: CosignatureSigner, log_signer: NoteSigner
) -> None:
    note = sign_note(CHECKPOINT, [log_signer])
    cosig = witness.at(T + 5).cosign(CHECKPOINT)
    second = CosignatureSigner("witness.example/w2", SigningKey.from_seed(b"\x23" * 32), T + 7)
    cosigned = add_signatures(note, [cosig, second.cosign(CHECKPOINT)])
    assert cosigned.startswith(note)
    assert len(parse_note(cosigned).signatures) == 3

    opened = open_note(cosigned, [log_signer.verifier, witness.verifier])
    assert opened.text == CHECKPOINT
    assert opened.verified == (log_signer.verifier, witness.verifier)
    assert [s.name for s in opened.unverified] == ["witness.example/w2"]
    found = opened.signature_of(witness.verifier)
    assert found == cosig
    assert verify_cosignature(opened.text, found, witness.verifier) == T + 5

    # The log alone, or the witness alone, is enough to open it.
    assert open_note(cosigned, [log_signer.verifier]).verified == (log_signer.verifier,)
    assert open_note(cosigned, [witness.verifier]).verified == (witness.verifier,)
    every = [log_signer.verifier, witness.verifier, second.verifier]
    assert len(open_note(cosigned, every).verified) == 3


def test_cosignature_of_another_checkpoint_rejects_the_note(
    witness: CosignatureSigner, log_signer: NoteSigner
) -> None:
    note = sign_note(CHECKPOINT, [log_signer])
    stale = witness.cosign(CHECKPOINT.replace(b"42\n", b"41\n"))
    bad = add_signatures(note, [stale])
    assert open_note(bad, [log_signer.verifier]).unverified == (stale,)
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(bad, [log_signer.verifier, witness.verifier])


def test_add_signatures_keeps_the_first_cosignature(
    witness: CosignatureSigner, log_signer: NoteSigner
) -> None:
    note = sign_note(CHECKPOINT, [log_signer])
    first = add_signatures(note, [witness.at(T).cosign(CHECKPOINT)])
    assert add_signatures(first, [witness.at(T + 100).cosign(CHECKPOINT)]) == first
    opened = open_note(first, [witness.verifier])
    assert verify_cosignature(CHECKPOINT, opened.signatures[1], witness.verifier) == T
