"""C2SP tlog-proof (``c2sp.org/tlog-proof@v1``): one entry's offline inclusion proof.

The proof is text, lines separated by ``\\n``::

    c2sp.org/tlog-proof@v1
    [extra <base64>]              optional, opaque and unauthenticated
    index <N>                     zero-based, canonical decimal
    <base64 hash>                 zero or more: the RFC 9162 inclusion path, leaf upwards
    <blank line>
    <checkpoint>                  the signed note, verbatim (with cosignature lines)

pel never writes an ``extra`` line; the parser accepts one where the spec allows it
(second line only) and hands it back so a caller can ignore it. Everything else is
strict: canonical decimals, canonical standard base64, every hash exactly 32 bytes.
Verifying the checkpoint's signatures is the caller's business (it needs a policy).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pel.ledger.errors import ProofError
from pel.ledger.merkle.hashing import HASH_SIZE

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,18})")
_MAX_HASHES = 64  # an RFC 9162 path in a tree of < 2^63 leaves


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed tlog-proof: the index, the inclusion path and the checkpoint note bytes."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def text(self) -> str:
        """The proof as C2SP tlog-proof text (no ``extra`` line unless one was given)."""
        return format_proof(self.index, self.hashes, self.checkpoint, extra=self.extra)


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError(f"{what} is not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise ProofError(f"{what} is not canonical base64")
    return raw


def format_proof(
    index: int, hashes: Sequence[bytes], checkpoint: bytes, *, extra: bytes | None = None
) -> str:
    """Write a tlog-proof for entry ``index`` against the signed ``checkpoint`` note."""
    if index < 0:
        raise ProofError(f"index {index} is negative")
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise ProofError(f"proof hash {i} is {len(h)} bytes, not {HASH_SIZE}")
    lines = [HEADER]
    if extra is not None:
        lines.append("extra " + base64.b64encode(extra).decode())
    lines.append(f"index {index}")
    lines.extend(base64.b64encode(h).decode() for h in hashes)
    try:
        note = checkpoint.decode("utf-8")
    except UnicodeDecodeError:
        raise ProofError("the checkpoint is not UTF-8") from None
    return "\n".join(lines) + "\n\n" + note


def parse_proof(text: str) -> TlogProof:
    """Parse a tlog-proof strictly.

    Raises:
        ProofError: anything that is not exactly the format above.
    """
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise ProofError("a tlog-proof needs a blank line before its checkpoint")
    if not checkpoint:
        raise ProofError("the tlog-proof holds no checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise ProofError(f"a tlog-proof starts with the line {HEADER!r}")
    pos = 1
    extra = None
    if pos < len(lines) and lines[pos].startswith("extra "):
        extra = _b64(lines[pos][len("extra ") :], "the extra line")
        pos += 1
    if pos >= len(lines):
        raise ProofError("the tlog-proof has no index line")
    m = _INDEX.fullmatch(lines[pos])
    if not m:
        raise ProofError(f"{lines[pos][:40]!r} is not an index line ('index N', canonical)")
    index = int(m.group(1))
    if index >= 2**63:
        raise ProofError(f"index {index} is out of range")
    rest = lines[pos + 1 :]
    if len(rest) > _MAX_HASHES:
        raise ProofError(f"the inclusion path has {len(rest)} hashes; at most {_MAX_HASHES}")
    hashes = []
    for i, line in enumerate(rest):
        raw = _b64(line, f"proof hash {i}")
        if len(raw) != HASH_SIZE:
            raise ProofError(f"proof hash {i} is {len(raw)} bytes, not {HASH_SIZE}")
        hashes.append(raw)
    return TlogProof(index, tuple(hashes), checkpoint.encode("utf-8"), extra)
