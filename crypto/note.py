"""C2SP signed notes (c2sp.org/signed-note): key IDs, verifier keys, signing, opening.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> base64(key ID ‖ signature)``. Three signature types are supported:
Ed25519 (type 0x01), timestamped Ed25519 cosignatures (cosignature/v1, type
0x04, c2sp.org/tlog-cosignature), whose signed message is the note text behind a
``cosignature/v1`` and a ``time <t>`` line, and timestamped ML-DSA-44 checkpoint
cosignatures (type 0x06, same specification), whose signed message is the binary
``cosigned_message`` of :mod:`pel.crypto.mldsa`.

Written here rather than taken from a package: no maintained Python library
implements signed notes and cosignature/v1; the format is small and the rules
below follow Go's golang.org/x/mod/sumdb/note (unknown signatures are kept as
unverified, a known key's bad signature rejects the note, at most 100 lines).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pel.crypto import mldsa
from pel.crypto.errors import KeyFormatError, NoteFormatError, SignatureError
from pel.crypto.keys import SIGNATURE_SIZE, PublicKey, SigningKey
from pel.crypto.mldsa import MLDSAPublicKey, MLDSASigningKey

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
ALG_MLDSA44_COSIGNATURE = 0x06
COSIGNATURE_ALGS = (ALG_COSIGNATURE_V1, ALG_MLDSA44_COSIGNATURE)
MAX_SIGNATURES = 100
_DASH = "\u2014 "
_TIMESTAMP_SIZE = 8


def check_key_name(name: str) -> None:
    """Key names are non-empty and hold no whitespace and no ``+``."""
    if not name or "+" in name or any(c.isspace() for c in name) or not name.isprintable():
        raise KeyFormatError(
            f"invalid key name {name!r}: it must be non-empty, without spaces or '+'"
        )


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ alg ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def cosignature_message(text: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: ``cosignature/v1``, ``time <t>``, then the note text."""
    if not 0 <= timestamp < 2**63:
        raise SignatureError(f"cosignature timestamp {timestamp} is out of range")
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def _check_text(text: bytes) -> str:
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteFormatError("note text is not UTF-8") from None
    if not s.endswith("\n"):
        raise NoteFormatError("note text must end with a newline")
    if any((c < " " and c != "\n") or c == "\x7f" for c in s):
        raise NoteFormatError("note text holds control characters")
    return s


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """Who may sign a note: key name, signature type and public key (hashable)."""

    name: str
    alg: int
    public_key: PublicKey | MLDSAPublicKey

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if self.alg not in (ALG_ED25519, ALG_COSIGNATURE_V1, ALG_MLDSA44_COSIGNATURE):
            raise KeyFormatError(f"unsupported signature type 0x{self.alg:02x}")
        want = MLDSAPublicKey if self.alg == ALG_MLDSA44_COSIGNATURE else PublicKey
        if not isinstance(self.public_key, want):
            raise KeyFormatError(f"signature type 0x{self.alg:02x} needs a {want.__name__}")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.alg, self.public_key.raw)

    @property
    def vkey(self) -> str:
        """The verifier key string ``name+hexid+base64(type ‖ key)``."""
        data = base64.b64encode(bytes([self.alg]) + self.public_key.raw).decode()
        return f"{self.name}+{self.key_id.hex()}+{data}"

    def verify(self, text: bytes, payload: bytes) -> bool:
        """Whether ``payload`` (signature bytes after the key ID) signs ``text``."""
        if self.alg == ALG_ED25519:
            return self.public_key.verify(payload, text)
        size = mldsa.SIGNATURE_SIZE if self.alg == ALG_MLDSA44_COSIGNATURE else SIGNATURE_SIZE
        if len(payload) != _TIMESTAMP_SIZE + size:
            return False
        timestamp = int.from_bytes(payload[:_TIMESTAMP_SIZE], "big")
        if timestamp >= 2**63:
            return False
        if self.alg == ALG_COSIGNATURE_V1:
            message = cosignature_message(text, timestamp)
        else:
            try:
                message = mldsa.checkpoint_message(self.name, text, timestamp)
            except SignatureError:
                return False
        return self.public_key.verify(payload[_TIMESTAMP_SIZE:], message)


def parse_vkey(vkey: str) -> NoteVerifier:
    """Parse ``name+hexid+base64(type ‖ key)`` and check that the key ID matches.

    Raises:
        KeyFormatError: malformed, unsupported type, or a key ID that does not match.
    """
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise KeyFormatError("a verifier key reads name+hexid+base64key")
    name, hexid, data = parts
    if len(hexid) != 8 or hexid != hexid.lower():
        raise KeyFormatError(f"verifier key ID {hexid!r} is not 8 lowercase hex digits")
    try:
        raw = base64.b64decode(data, validate=True)
        want = bytes.fromhex(hexid)
    except (binascii.Error, ValueError):
        raise KeyFormatError("verifier key is not base64 after the key ID") from None
    if raw[:1] == bytes([ALG_MLDSA44_COSIGNATURE]):
        if len(raw) != 1 + mldsa.PUBLIC_KEY_SIZE:
            raise KeyFormatError("an ML-DSA-44 verifier key holds a type byte and 1312 bytes")
        verifier = NoteVerifier(name, raw[0], MLDSAPublicKey(raw[1:]))
    elif len(raw) != 33:
        raise KeyFormatError("verifier key must hold a type byte and a 32-byte Ed25519 key")
    else:
        verifier = NoteVerifier(name, raw[0], PublicKey(raw[1:]))
    if verifier.key_id != want:
        raise KeyFormatError(f"verifier key ID {hexid} does not match its name and key")
    return verifier


class NoteSigner:
    """Signs notes under a key name with Ed25519 (type 0x01)."""

    alg = ALG_ED25519

    def __init__(self, name: str, key: SigningKey | MLDSASigningKey) -> None:
        check_key_name(name)
        self.name = name
        self.key = key

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.alg, self.key.public_key)

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def sign(self, text: bytes) -> bytes:
        """The signature bytes (after the key ID) over the note ``text``."""
        return self.key.sign(text)

    def signature_line(self, text: bytes) -> str:
        payload = self.key_id + self.sign(text)
        return f"{_DASH}{self.name} {base64.b64encode(payload).decode()}\n"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey})"


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes after the ID."""

    name: str
    key_id: bytes
    payload: bytes

    def line(self) -> str:
        data = base64.b64encode(self.key_id + self.payload).decode()
        return f"{_DASH}{self.name} {data}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed, not yet verified, note."""

    text: bytes
    signatures: tuple[NoteSignature, ...]


def parse_signature_line(line: str) -> NoteSignature:
    """Parse ``— <name> <base64>`` (without its newline)."""
    if not line.startswith(_DASH):
        raise NoteFormatError("a signature line must start with an em dash and a space")
    name, sep, data = line[len(_DASH) :].partition(" ")
    if not sep:
        raise NoteFormatError("a signature line needs a key name and a signature")
    try:
        check_key_name(name)
        raw = base64.b64decode(data, validate=True)
    except KeyFormatError as exc:
        raise NoteFormatError(exc.message) from None
    except (binascii.Error, ValueError):
        raise NoteFormatError(f"the signature of {name!r} is not base64") from None
    if base64.b64encode(raw).decode() != data:
        # Unused trailing bits must be zero, or one signature has four encodings.
        raise NoteFormatError(f"the signature of {name!r} is not canonical base64")
    if len(raw) < 5:
        raise NoteFormatError(f"the signature of {name!r} is too short")
    return NoteSignature(name, raw[:4], raw[4:])


def parse_note(data: bytes) -> Note:
    """Split a note into its text and signature lines, strictly.

    Raises:
        NoteFormatError: no signature block, malformed lines, too many signatures.
    """
    cut = data.rfind(b"\n\n")
    if cut < 0:
        raise NoteFormatError("a signed note needs a blank line before its signatures")
    text, block = data[: cut + 1], data[cut + 2 :]
    _check_text(text)
    try:
        lines = block.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteFormatError("note signatures are not UTF-8") from None
    if not lines.endswith("\n"):
        raise NoteFormatError("the last signature line must end with a newline")
    rows = lines[:-1].split("\n")
    if len(rows) > MAX_SIGNATURES:
        raise NoteFormatError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return Note(text, tuple(parse_signature_line(r) for r in rows))


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    """An opened note: its text, the verifiers whose signatures held, and the rest."""

    text: bytes
    verified: tuple[NoteVerifier, ...]
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]

    def signature_of(self, verifier: NoteVerifier) -> NoteSignature | None:
        for sig in self.signatures:
            if sig.name == verifier.name and sig.key_id == verifier.key_id:
                return sig
        return None


def open_note(data: bytes, verifiers: Iterable[NoteVerifier]) -> VerifiedNote:
    """Parse a note and verify the signatures of the given keys.

    Signatures from keys not given are returned as ``unverified``; a signature
    whose name and key ID match a given key but does not verify rejects the note.

    Raises:
        NoteFormatError: the note is malformed.
        SignatureError: a known key's signature fails, or no known key signed.
    """
    note = parse_note(data)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[NoteVerifier] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for sig in note.signatures:
        key = (sig.name, sig.key_id)
        if key in seen:
            continue
        seen.add(key)
        verifier = known.get(key)
        if verifier is None:
            unverified.append(sig)
        elif verifier.verify(note.text, sig.payload):
            verified.append(verifier)
        else:
            raise SignatureError(f"the signature of {sig.name!r} on the note does not verify")
    if not verified:
        raise SignatureError("the note carries no signature from a known key")
    return VerifiedNote(note.text, tuple(verified), note.signatures, tuple(unverified))


def sign_note(text: bytes, signers: Sequence[NoteSigner]) -> bytes:
    """The note: ``text``, a blank line, and one signature line per signer."""
    _check_text(text)
    if not signers:
        raise SignatureError("a note needs at least one signer")
    return text + b"\n" + "".join(s.signature_line(text) for s in signers).encode()


def add_signatures(data: bytes, signatures: Iterable[NoteSignature]) -> bytes:
    """The note with further signature lines appended (skipping any it already has)."""
    note = parse_note(data)
    have = {(s.name, s.key_id) for s in note.signatures}
    extra: list[NoteSignature] = []
    for sig in signatures:
        if (sig.name, sig.key_id) not in have:
            have.add((sig.name, sig.key_id))
            extra.append(sig)
    if len(note.signatures) + len(extra) > MAX_SIGNATURES:
        raise NoteFormatError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return data + "".join(s.line() for s in extra).encode()
