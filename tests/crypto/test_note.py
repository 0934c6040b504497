"""C2SP signed notes: published test vectors, verifier keys, parsing, opening, refusals."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pel.crypto.errors import KeyFormatError, NoteFormatError, SignatureError
from pel.crypto.keys import PublicKey, SigningKey
from pel.crypto.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    MAX_SIGNATURES,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    add_signatures,
    key_id,
    open_note,
    parse_note,
    parse_vkey,
    sign_note,
)

DASH = "\u2014"

# c2sp.org/signed-note example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_PUBLIC_KEY = "e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4"
SPEC_NOTE = (
    "This is an example message.\n\n"
    f"{DASH} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOB"
    "H3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()

# golang.org/x/mod/sumdb/note package documentation example.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
GO_NOTE = GO_TEXT + f"\n{DASH} PeterNeumann {GO_SIGNATURE}\n".encode()

# transparency-dev/formats test keys.
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"


def go_signer() -> NoteSigner:
    """The Go example's signer, from its ``PRIVATE+KEY+name+id+base64(0x01 ‖ seed)``."""
    _, _, name, hexid, data = GO_SKEY.split("+", 4)
    raw = base64.b64decode(data)
    assert raw[0] == ALG_ED25519 and len(raw) == 33
    signer = NoteSigner(name, SigningKey.from_seed(raw[1:]))
    assert signer.key_id.hex() == hexid
    return signer


def seeded_signer(seed: int, name: str = "example.com/log") -> NoteSigner:
    return NoteSigner(name, SigningKey.from_seed(bytes([seed]) * 32))


def vkey_for(name: str, alg: int, raw: bytes) -> str:
    """A verifier key string with a correctly computed key ID (for names or types we refuse)."""
    kid = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + raw).digest()[:4]
    return f"{name}+{kid.hex()}+{base64.b64encode(bytes([alg]) + raw).decode()}"


# --- published vectors ---------------------------------------------------------------


def test_spec_example_parses_and_verifies() -> None:
    verifier = parse_vkey(SPEC_VKEY)
    assert verifier.name == "example.com/foo"
    assert verifier.alg == ALG_ED25519
    assert verifier.public_key.raw.hex() == SPEC_PUBLIC_KEY
    assert verifier.key_id.hex() == "530d903a"
    assert verifier.vkey == SPEC_VKEY

    opened = open_note(SPEC_NOTE, [verifier])
    assert opened.text == b"This is an example message.\n"
    assert opened.verified == (verifier,)
    assert opened.unverified == ()
    assert len(opened.signatures) == 1
    assert opened.signature_of(verifier) == opened.signatures[0]


def test_spec_example_key_id_formula() -> None:
    raw = bytes.fromhex(SPEC_PUBLIC_KEY)
    want = hashlib.sha256(b"example.com/foo\n\x01" + raw).digest()[:4]
    assert key_id("example.com/foo", ALG_ED25519, raw) == want == bytes.fromhex("530d903a")


def test_go_example_signer_reproduces_note_byte_for_byte() -> None:
    signer = go_signer()
    assert signer.vkey == GO_VKEY
    assert sign_note(GO_TEXT, [signer]) == GO_NOTE
    opened = open_note(GO_NOTE, [parse_vkey(GO_VKEY)])
    assert opened.text == GO_TEXT
    assert [v.name for v in opened.verified] == ["PeterNeumann"]


def test_go_example_signature_line() -> None:
    signer = go_signer()
    line = signer.signature_line(GO_TEXT)
    assert GO_NOTE.endswith(b"\n\n" + line.encode())
    assert base64.b64decode(line.split(" ")[2])[:4].hex() == "c74f20a3"


def test_cosignature_vkey_from_transparency_dev() -> None:
    verifier = parse_vkey(REMORA_VKEY)
    assert verifier.name == "remora.n621.de"
    assert verifier.alg == ALG_COSIGNATURE_V1 == 0x04
    assert verifier.key_id.hex() == "da77ade7"
    assert verifier.vkey == REMORA_VKEY
    # The same key as Ed25519 has another ID, so it cannot pass for the cosigner.
    ed = NoteVerifier(verifier.name, ALG_ED25519, verifier.public_key)
    assert ed.key_id != verifier.key_id


def test_vkey_whose_base64_holds_a_plus() -> None:
    verifier = parse_vkey(PLUS_VKEY)
    assert verifier.name == "TEST"
    assert verifier.alg == ALG_ED25519
    assert verifier.key_id.hex() == "7997405c"
    assert "+" in verifier.public_key.to_base64()
    assert verifier.vkey == PLUS_VKEY
    assert parse_vkey(verifier.vkey) == verifier


def test_spec_text_with_blank_lines_round_trips() -> None:
    # The c2sp.org/signed-note example text holds an empty line of its own.
    text = (
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\n"
        "ed è subito sera.\n"
    ).encode()
    signer = NoteSigner("quasimodo.example/salvatore", SigningKey.generate())
    note = sign_note(text, [signer])
    assert parse_note(note).text == text
    assert open_note(note, [signer.verifier]).text == text


# --- verifier keys -------------------------------------------------------------------


def test_generated_vkey_round_trips() -> None:
    signer = seeded_signer(1)
    verifier = parse_vkey(signer.vkey)
    assert verifier == signer.verifier
    assert verifier.public_key == signer.key.public_key
    assert hash(verifier) == hash(signer.verifier)


def test_vkey_refuses_wrong_key_id() -> None:
    name, hexid, data = SPEC_VKEY.split("+")
    wrong = f"{int(hexid, 16) ^ 1:08x}"
    with pytest.raises(KeyFormatError, match="does not match"):
        parse_vkey(f"{name}+{wrong}+{data}")
    # A correct ID under another name does not match either.
    with pytest.raises(KeyFormatError, match="does not match"):
        parse_vkey(f"example.com/bar+{hexid}+{data}")


@pytest.mark.parametrize("hexid", ["530D903A", "530d903", "530d903a0", "", "zzzzzzzz", "0x0d903a"])
def test_vkey_refuses_malformed_key_id(hexid: str) -> None:
    _, _, data = SPEC_VKEY.split("+")
    with pytest.raises(KeyFormatError):
        parse_vkey(f"example.com/foo+{hexid}+{data}")


@pytest.mark.parametrize("name", ["bad name", "tab\tname", "nbsp\u00a0name", ""])
def test_vkey_refuses_bad_names(name: str) -> None:
    raw = bytes.fromhex(SPEC_PUBLIC_KEY)
    with pytest.raises(KeyFormatError):
        parse_vkey(vkey_for(name, ALG_ED25519, raw))


def test_vkey_name_with_plus_cannot_parse() -> None:
    raw = bytes.fromhex(SPEC_PUBLIC_KEY)
    with pytest.raises(KeyFormatError):
        parse_vkey(vkey_for("a+b", ALG_ED25519, raw))


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\nb", "a\u2003b", "a\x00b"])
def test_verifier_and_signer_refuse_bad_names(name: str) -> None:
    key = SigningKey.from_seed(bytes(32))
    with pytest.raises(KeyFormatError):
        NoteVerifier(name, ALG_ED25519, key.public_key)
    with pytest.raises(KeyFormatError):
        NoteSigner(name, key)


@pytest.mark.parametrize("alg", [0x00, 0x02, 0x03, 0x05, 0xFF])
def test_vkey_refuses_other_signature_types(alg: int) -> None:
    raw = bytes.fromhex(SPEC_PUBLIC_KEY)
    with pytest.raises(KeyFormatError, match="unsupported"):
        parse_vkey(vkey_for("example.com/foo", alg, raw))


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_vkey_refuses_wrong_key_length(size: int) -> None:
    name = "example.com/foo"
    raw = bytes(range(size))
    kid = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4].hex()
    data = base64.b64encode(b"\x01" + raw).decode()
    with pytest.raises(KeyFormatError):
        parse_vkey(f"{name}+{kid}+{data}")


@pytest.mark.parametrize(
    "data",
    [
        "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",  # truncated
        "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k!",
        "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U-k",  # URL-safe alphabet
        "Aeky eRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "not base64 at all",
    ],
)
def test_vkey_refuses_non_base64(data: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_vkey(f"example.com/foo+530d903a+{data}")


@pytest.mark.parametrize("vkey", ["", "example.com/foo", "example.com/foo+530d903a"])
def test_vkey_refuses_missing_parts(vkey: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_vkey(vkey)


# --- note refusals -------------------------------------------------------------------


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return seeded_signer(7)


def test_refuses_note_without_blank_line(signer: NoteSigner) -> None:
    line = signer.signature_line(b"hello\n").encode()
    with pytest.raises(NoteFormatError, match="blank line"):
        open_note(b"hello\n" + line, [signer.verifier])
    with pytest.raises(NoteFormatError):
        parse_note(b"hello\n")


def test_refuses_blank_line_without_signatures(signer: NoteSigner) -> None:
    for data in (b"hello\n\n", b"hello\n\n\n"):
        with pytest.raises(NoteFormatError):
            parse_note(data)


@pytest.mark.parametrize("text", [b"", b"hello", b"hello\nworld"])
def test_sign_refuses_text_without_final_newline(signer: NoteSigner, text: bytes) -> None:
    with pytest.raises(NoteFormatError, match="newline"):
        sign_note(text, [signer])


def test_sign_needs_a_signer() -> None:
    with pytest.raises(SignatureError):
        sign_note(b"hello\n", [])


@pytest.mark.parametrize("ch", ["\x00", "\t", "\r", "\x1b", "\x1f"])
def test_refuses_control_characters(signer: NoteSigner, ch: str) -> None:
    text = f"hello{ch}world\n".encode()
    with pytest.raises(NoteFormatError, match="control"):
        sign_note(text, [signer])
    # A note built by hand around the same text is refused when opened, too.
    forged = text + b"\n" + signer.signature_line(text).encode()
    with pytest.raises(NoteFormatError, match="control"):
        open_note(forged, [signer.verifier])


def test_refuses_non_utf8_text(signer: NoteSigner) -> None:
    text = b"caf\xe9\n"
    with pytest.raises(NoteFormatError, match="UTF-8"):
        sign_note(text, [signer])
    forged = text + b"\n" + signer.signature_line(text).encode()
    with pytest.raises(NoteFormatError, match="UTF-8"):
        open_note(forged, [signer.verifier])


def test_refuses_non_utf8_signature_block(signer: NoteSigner) -> None:
    note = sign_note(b"hello\n", [signer])
    with pytest.raises(NoteFormatError, match="UTF-8"):
        open_note(note + b"\xff\n", [signer.verifier])


@pytest.mark.parametrize(
    "prefix",
    ["- ", "\u2013 ", "\u2014", "\u2014\u2014 ", " \u2014 ", "\u2014\t", "\u2015 "],
)
def test_refuses_signature_line_without_em_dash_and_space(signer: NoteSigner, prefix: str) -> None:
    note = sign_note(b"hello\n", [signer])
    bad = note.replace(DASH.encode() + b" ", prefix.encode(), 1)
    assert bad != note
    with pytest.raises(NoteFormatError):
        open_note(bad, [signer.verifier])


def test_refuses_missing_trailing_newline(signer: NoteSigner) -> None:
    note = sign_note(b"hello\n", [signer])
    assert note.endswith(b"\n")
    with pytest.raises(NoteFormatError, match="newline"):
        open_note(note[:-1], [signer.verifier])


@pytest.mark.parametrize(
    "line",
    [
        f"{DASH} example.com/log\n",  # no signature
        f"{DASH} example.com/log \n",  # empty signature
        f"{DASH}  AAAAAAAA\n",  # empty name
        f"{DASH} example.com/log AAAA\n",  # 3 bytes: shorter than a key ID
        f"{DASH} example.com/log AAAAAA==\n",  # 4 bytes: a key ID and nothing else
        f"{DASH} example.com/log AAAAAAA\n",  # bad padding
        f"{DASH} example.com/log AAAAAAAA AAAA\n",  # a space inside the base64
        f"{DASH} example.com/log AAAAAAAA\r\n",  # CR before the newline
    ],
)
def test_refuses_malformed_signature_lines(signer: NoteSigner, line: str) -> None:
    note = sign_note(b"hello\n", [signer])
    with pytest.raises(NoteFormatError):
        open_note(note + line.encode(), [signer.verifier])


def test_refuses_non_canonical_base64_signature(signer: NoteSigner) -> None:
    """A 68-byte signature leaves 2 unused bits in its last base64 digit; they must be 0.

    Otherwise four different lines carry the same signature, and a note's bytes are
    malleable by anyone without the key.
    """
    note = SPEC_NOTE
    assert note.endswith(b"aQM=\n")
    tweaked = note.replace(b"aQM=\n", b"aQN=\n")  # M=12 (001100), N=13 (001101)
    assert base64.b64decode(tweaked.split(b" ")[-1]) == base64.b64decode(note.split(b" ")[-1])
    with pytest.raises(NoteFormatError, match="canonical"):
        open_note(tweaked, [parse_vkey(SPEC_VKEY)])


def test_at_most_100_signatures(signer: NoteSigner) -> None:
    text = b"hello\n"
    others = [NoteSignature(f"other{i}.example", bytes(4), bytes(64)).line() for i in range(100)]
    hundred = sign_note(text, [signer]) + "".join(others[:99]).encode()
    opened = open_note(hundred, [signer.verifier])
    assert len(opened.signatures) == MAX_SIGNATURES == 100
    assert len(opened.unverified) == 99
    with pytest.raises(NoteFormatError, match="at most 100"):
        open_note(hundred + others[99].encode(), [signer.verifier])
    with pytest.raises(NoteFormatError, match="at most 100"):
        add_signatures(hundred, [NoteSignature("one.more", bytes(4), bytes(64))])


def test_known_key_bad_signature_rejects_note(signer: NoteSigner) -> None:
    line = signer.signature_line(b"hello\n").encode()
    forged = b"goodbye\n\n" + line
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(forged, [signer.verifier])


def test_known_key_bad_signature_rejects_even_beside_a_good_one(signer: NoteSigner) -> None:
    other = seeded_signer(8, "example.com/other")
    note = sign_note(b"hello\n", [signer])
    bad = other.signature_line(b"goodbye\n").encode()
    assert open_note(note + bad, [signer.verifier]).unverified  # unknown: kept aside
    with pytest.raises(SignatureError):
        open_note(note + bad, [signer.verifier, other.verifier])


def test_known_key_wrong_signature_length_rejects(signer: NoteSigner) -> None:
    short = NoteSignature(signer.name, signer.key_id, bytes(63)).line().encode()
    with pytest.raises(SignatureError):
        open_note(b"hello\n\n" + short, [signer.verifier])


def test_no_known_signer(signer: NoteSigner) -> None:
    note = sign_note(b"hello\n", [signer])
    with pytest.raises(SignatureError, match="no signature from a known key"):
        open_note(note, [seeded_signer(9).verifier])
    with pytest.raises(SignatureError):
        open_note(note, [])


def test_unknown_signatures_are_returned_unverified(signer: NoteSigner) -> None:
    other = seeded_signer(10, "example.com/witness")
    text = b"hello\n"
    note = sign_note(text, [other, signer])
    opened = open_note(note, [signer.verifier])
    assert opened.verified == (signer.verifier,)
    assert [s.name for s in opened.unverified] == ["example.com/witness"]
    assert opened.unverified[0].key_id == other.key_id
    assert other.verifier.verify(text, opened.unverified[0].payload)
    assert opened.signature_of(other.verifier) == opened.unverified[0]
    assert opened.signature_of(seeded_signer(11).verifier) is None


def test_same_name_or_same_id_alone_is_another_key(signer: NoteSigner) -> None:
    """Spec: ignore unknown keys even if they share a name or an ID (not both) with a known one."""
    text = b"hello\n"
    same_name = NoteSignature(signer.name, bytes(a ^ 0xFF for a in signer.key_id), bytes(64))
    same_id = NoteSignature("example.com/impostor", signer.key_id, bytes(64))
    note = sign_note(text, [signer]) + (same_name.line() + same_id.line()).encode()
    opened = open_note(note, [signer.verifier])
    assert opened.verified == (signer.verifier,)
    assert set(opened.unverified) == {same_name, same_id}


def test_duplicate_signature_lines_are_tolerated(signer: NoteSigner) -> None:
    text = b"hello\n"
    line = signer.signature_line(text).encode()
    note = text + b"\n" + line + line
    opened = open_note(note, [signer.verifier])
    assert opened.verified == (signer.verifier,)
    assert len(opened.signatures) == 2
    assert opened.unverified == ()


def test_add_signatures_appends_and_skips_known(signer: NoteSigner) -> None:
    text = b"hello\n"
    other = seeded_signer(12, "example.com/second")
    note = sign_note(text, [signer])
    sig = NoteSignature(other.name, other.key_id, other.sign(text))
    both = add_signatures(note, [sig, sig])
    assert both == note + sig.line().encode()
    assert add_signatures(both, [sig]) == both
    again = NoteSignature(signer.name, signer.key_id, bytes(64))  # already has one
    assert add_signatures(both, [again]) == both
    opened = open_note(both, [signer.verifier, other.verifier])
    assert set(opened.verified) == {signer.verifier, other.verifier}


def test_multiple_signers_in_order(signer: NoteSigner) -> None:
    a, b = seeded_signer(13, "a.example"), seeded_signer(14, "b.example")
    note = sign_note(b"x\n", [a, b, signer])
    names = [s.name for s in parse_note(note).signatures]
    assert names == ["a.example", "b.example", signer.name]
    assert open_note(note, [b.verifier, a.verifier]).verified == (a.verifier, b.verifier)


def test_signer_repr_shows_only_the_verifier_key(signer: NoteSigner) -> None:
    assert repr(signer) == f"NoteSigner({signer.vkey})"
    assert signer.key.to_pem().decode().splitlines()[1] not in repr(signer)


# --- every single-byte change is caught ----------------------------------------------


def assert_every_byte_flip_rejected(note: bytes, verifier: NoteVerifier) -> None:
    open_note(note, [verifier])  # the original holds
    for i in range(len(note)):
        changed = bytearray(note)
        changed[i] ^= 0x01
        with pytest.raises((NoteFormatError, SignatureError)):
            open_note(bytes(changed), [verifier])
            pytest.fail(f"byte {i} ({note[i : i + 1]!r} -> {bytes(changed[i : i + 1])!r}) accepted")


def test_every_byte_flip_of_spec_example_rejected() -> None:
    assert_every_byte_flip_rejected(SPEC_NOTE, parse_vkey(SPEC_VKEY))


def test_every_byte_flip_of_a_short_note_rejected() -> None:
    note = sign_note(b"tree 7\n", [seeded_signer(8)])
    # Chosen so the last base64 digit is one ('8', 60) whose low bit is unused: with
    # lax base64 decoding, '8' -> '9' would leave the signature bytes unchanged.
    assert note.endswith(b"8=\n")
    assert_every_byte_flip_rejected(note, seeded_signer(8).verifier)


# Text for property tests: no surrogates (not encodable) and no control characters.
line_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
note_text = st.lists(line_text, min_size=1, max_size=6).map(
    lambda lines: ("\n".join(lines) + "\n").encode()
)


@settings(max_examples=150, deadline=None)
@given(text=note_text, seed=st.binary(min_size=32, max_size=32))
def test_sign_then_open_round_trips(text: bytes, seed: bytes) -> None:
    signer = NoteSigner("example.com/prop", SigningKey.from_seed(seed))
    note = sign_note(text, [signer])
    assert note.startswith(text + b"\n")
    opened = open_note(note, [parse_vkey(signer.vkey)])
    assert opened.text == text
    assert opened.verified == (signer.verifier,)


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12).map(
        lambda s: (s + "\n").encode()
    ),
    seed=st.binary(min_size=32, max_size=32),
)
def test_every_byte_flip_rejected_property(text: bytes, seed: bytes) -> None:
    signer = NoteSigner("w", SigningKey.from_seed(seed))
    assert_every_byte_flip_rejected(sign_note(text, [signer]), signer.verifier)


def test_public_key_of_verifier_is_a_public_key() -> None:
    verifier = parse_vkey(GO_VKEY)
    assert isinstance(verifier.public_key, PublicKey)
    assert verifier.public_key == go_signer().key.public_key
