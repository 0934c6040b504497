"""C2SP tlog-checkpoint: the signed statement of a log's size and root hash.

A checkpoint's body (the text of a C2SP signed note) is, each line ending in a
newline::

    <origin>                      a unique, non-empty identity of the log
    <tree size>                   decimal, no leading zeros
    <root hash>                   standard base64 of the 32-byte RFC 9162 root
    [<extension line>…]           optional, non-empty, opaque

The note is signed by the log's Ed25519 key under the origin as key name; witness
cosignatures (cosignature/v1) may follow as further signature lines.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pel.crypto.errors import CryptoError
from pel.crypto.note import NoteSigner, NoteVerifier, open_note, sign_note
from pel.ledger.errors import CheckpointError
from pel.ledger.merkle.hashing import HASH_SIZE

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree size and root hash under its origin."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or any(c.isspace() and c != " " for c in self.origin):
            raise CheckpointError("checkpoint origin must be a non-empty single line")
        if self.size < 0 or self.size >= 2**63:
            raise CheckpointError(f"checkpoint tree size {self.size} is out of range")
        if len(self.root) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root is {len(self.root)} bytes, not {HASH_SIZE}")
        for line in self.extensions:
            if not line or "\n" in line:
                raise CheckpointError("checkpoint extension lines must be non-empty single lines")

    def body(self) -> bytes:
        """The note text: origin, size, base64 root, extension lines, each with ``\\n``."""
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def parse(cls, text: bytes) -> Checkpoint:
        """Parse a checkpoint body strictly (canonical size, exact 32-byte root)."""
        try:
            s = text.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("checkpoint is not UTF-8") from None
        if not s.endswith("\n"):
            raise CheckpointError("checkpoint body must end with a newline")
        lines = s[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("checkpoint needs origin, tree size and root hash lines")
        origin, size, root, *ext = lines
        if not _SIZE.fullmatch(size):
            raise CheckpointError(f"checkpoint tree size {size!r} is not a canonical decimal")
        try:
            raw = base64.b64decode(root, validate=True)
        except ValueError:
            raise CheckpointError("checkpoint root hash is not base64") from None
        if base64.b64encode(raw).decode() != root:
            raise CheckpointError("checkpoint root hash is not canonical base64")
        return cls(origin, int(size), raw, tuple(ext))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> bytes:
    """The checkpoint as a signed note, signed by the log key (named after the origin)."""
    if signer.name != checkpoint.origin:
        raise CheckpointError(
            f"log key is named {signer.name!r} but the checkpoint origin is {checkpoint.origin!r}"
        )
    return sign_note(checkpoint.body(), [signer])


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint whose log signature verified, with the note it came from."""

    checkpoint: Checkpoint
    note: bytes
    cosigners: tuple[NoteVerifier, ...] = ()


def open_checkpoint(
    note: bytes, log_key: NoteVerifier, witnesses: Iterable[NoteVerifier] = ()
) -> SignedCheckpoint:
    """Verify a signed checkpoint against the log's key; report verified witness cosigners.

    Raises:
        CheckpointError: malformed, wrong origin, or not signed by ``log_key``.
    """
    witnesses = tuple(witnesses)
    try:
        opened = open_note(note, [log_key, *witnesses])
    except CryptoError as exc:
        raise CheckpointError(f"checkpoint signature: {exc.message}") from None
    if log_key not in opened.verified:
        raise CheckpointError(f"checkpoint is not signed by the log key {log_key.name!r}")
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != log_key.name:
        raise CheckpointError(
            f"checkpoint origin {checkpoint.origin!r} does not match the log key {log_key.name!r}"
        )
    cosigners = tuple(v for v in opened.verified if v in witnesses)
    return SignedCheckpoint(checkpoint, note, cosigners)


def open_checkpoint_any(
    note: bytes, log_keys: Sequence[NoteVerifier], witnesses: Iterable[NoteVerifier] = ()
) -> SignedCheckpoint:
    """:func:`open_checkpoint` with the first of a log's keys (current, then retired)
    that signed the note.

    Raises:
        CheckpointError: none of them did (the last key's reason), or no key is given.
    """
    witnesses = tuple(witnesses)
    problem = "no key of the log is known"
    for key in log_keys:
        try:
            return open_checkpoint(note, key, witnesses)
        except CheckpointError as exc:
            problem = exc.message
    raise CheckpointError(problem)
