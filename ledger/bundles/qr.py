"""The text a bundle's QR code carries: the bundle itself, or a reference to it.

* Embedded: ``PEL-BUNDLE/V1:`` followed by base45 (RFC 9285) of zlib (RFC 1950) of the
  bundle's canonical bytes. Base45 uses only the QR alphanumeric alphabet, so the
  code is encoded in alphanumeric mode (5.5 bits a character), which holds about a
  quarter more than base64 in byte mode — the approach of the EU digital COVID
  certificate (``HC1:``).
* Reference, for a bundle too large for one code: ``pel-bundle-ref/v1
  sha256=<lowercase hex SHA-256 of the canonical bytes>[ <url>]``. The URL says where
  the holder keeps the file; verifying a reference needs that file, whose digest
  must match.

:func:`qr_content` decides which of the two a code holds, and :func:`bundle_from` reads
either back; drawing the code is left to the caller.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pel.ledger.bundles.bundle import Bundle, BundleError

QR_PREFIX = "PEL-BUNDLE/V1:"
REF_PREFIX = "pel-bundle-ref/v1"
MAX_BUNDLE_BYTES = 16 * 1024 * 1024
QR_CAPACITY = 3391
"""Alphanumeric characters one QR code holds at error correction level M (version 40,
ISO/IEC 18004): the most an embedded bundle's text may take."""
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_REF = re.compile(r"pel-bundle-ref/v1 sha256=([0-9a-f]{64})(?: (\S{1,2000}))?")


def b45encode(data: bytes) -> str:
    """RFC 9285 base45."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += [_ALPHABET[c], _ALPHABET[d], _ALPHABET[e]]
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += [_ALPHABET[c], _ALPHABET[d]]
    return "".join(out)


def b45decode(text: str) -> bytes:
    """RFC 9285 base45, strictly (every triple < 65536, every pair < 256).

    Raises:
        ValueError: not base45.
    """
    if len(text) % 3 == 1:
        raise ValueError("base45 text has a dangling character")
    try:
        values = [_VALUE[c] for c in text]
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not a base45 character") from None
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        n = sum(v * 45**k for k, v in enumerate(chunk))
        if len(chunk) == 3:
            if n > 0xFFFF:
                raise ValueError("base45 triple out of range")
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                raise ValueError("base45 pair out of range")
            out.append(n)
    return bytes(out)


def encode_qr_text(bundle: Bundle) -> str:
    """The embedded form: prefix, base45 of zlib of the canonical bytes."""
    return QR_PREFIX + b45encode(zlib.compress(bundle.to_bytes(), 9))


@dataclass(frozen=True)
class BundleRef:
    """A reference to a bundle: its digest and, perhaps, where it is kept."""

    digest: str
    url: str | None = None

    def check(self, bundle_bytes: bytes) -> None:
        """Raise unless ``bundle_bytes`` are the referenced bundle."""
        if hashlib.sha256(bundle_bytes).hexdigest() != self.digest:
            raise BundleError(
                "digest_mismatch", "the bundle file is not the one the QR code refers to"
            )


def reference_text(digest: str, url: str | None = None) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise BundleError("bad_format", "a bundle digest is 64 lowercase hex digits")
    if url is not None and (not url or any(c.isspace() for c in url)):
        raise BundleError("bad_format", "a reference URL holds no spaces")
    return f"{REF_PREFIX} sha256={digest}" + (f" {url}" if url else "")


def qr_content(
    bundle: Bundle, ref_url: str | None = None
) -> tuple[Literal["embedded", "reference"], str]:
    """What a bundle's QR code holds: the bundle itself when its text fits one code
    (:data:`QR_CAPACITY`), else a reference to it (its digest and ``ref_url``).

    Returns:
        ``("embedded", text)`` or ``("reference", text)``; an embedded text uses only
        the QR alphanumeric alphabet.
    """
    text = encode_qr_text(bundle)
    if len(text) <= QR_CAPACITY:
        return "embedded", text
    return "reference", reference_text(bundle.digest(), ref_url)


def read_qr_text(text: str) -> bytes | BundleRef:
    """What a decoded QR code says: the embedded bundle's bytes, or a reference.

    Raises:
        BundleError: ``bad_format`` for anything else.
    """
    if text.startswith(QR_PREFIX):
        try:
            packed = b45decode(text[len(QR_PREFIX) :])
            inflate = zlib.decompressobj()
            raw = inflate.decompress(packed, MAX_BUNDLE_BYTES)
            if inflate.unconsumed_tail or not inflate.eof or inflate.unused_data:
                raise ValueError(
                    "the compressed bundle is truncated, too large or has trailing data"
                )
        except (ValueError, zlib.error) as exc:
            raise BundleError(
                "bad_format", f"the QR code's bundle does not decode: {exc}"
            ) from None
        return raw
    m = _REF.fullmatch(text)
    if m:
        return BundleRef(m.group(1), m.group(2))
    raise BundleError("bad_format", "this is neither a bundle nor a bundle reference")


def is_qr_text(text: bytes) -> bool:
    """Whether ``text`` is QR content rather than a bundle file."""
    return text.startswith(QR_PREFIX.encode()) or text.startswith(REF_PREFIX.encode())


def bundle_from(data: bytes, referenced: Callable[[], bytes] | None = None) -> bytes:
    """The bundle ``data`` holds: a bundle file's bytes as they are, or what the text of
    a decoded QR code says, the embedded bundle or, for a reference, the file that
    ``referenced`` reads, once its digest matches (it is read only then).

    Raises:
        BundleError: ``bad_format`` (QR text that is not ASCII or does not decode),
            ``bundle_needed`` (a reference and no file to read), ``digest_mismatch``.
    """
    if not is_qr_text(data):
        return data
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise BundleError("bad_format", "QR text is not ASCII") from None
    content = read_qr_text(text)
    if not isinstance(content, BundleRef):
        return content
    if referenced is None:
        where = f" (kept at {content.url})" if content.url else ""
        raise BundleError(
            "bundle_needed",
            f"the QR code refers to a bundle{where}: give that file with --bundle",
        )
    data = referenced()
    content.check(data)
    return data
