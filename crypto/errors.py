"""The root of pel's error tree, and the errors of the crypto layer.

Every error pel raises on purpose is a :class:`PelError`. Each layer has one
subclass, and every concrete error carries a stable machine-readable ``code``
(used by the HTTP API and the CLI) and a message a person understands::

    PelError                          (crypto.errors)
    ├── CryptoError                   (crypto.errors)   bad keys, notes, signatures
    │   ├── KeyFormatError            code: bad_key
    │   ├── NoteFormatError           code: bad_note
    │   ├── SignatureError            code: bad_signature
    │   └── CanonicalJSONError        code: bad_json
    ├── LedgerError                   (ledger.errors)   records, proofs, storage rules
    └── NodeError                     (node.errors)     configuration, peers, CLI

The API maps any ``PelError`` to ``{"error": {"code", "message"}}`` with the
error's ``http_status``; the CLI prints :meth:`PelError.diagnostics` and exits
non-zero.
"""

from __future__ import annotations


class PelError(Exception):
    """Base class of every error pel raises on purpose.

    Attributes:
        code: Stable, machine-readable identifier (snake_case). Never reworded.
        http_status: Status the API answers with when this error reaches it.
    """

    code: str = "pel_error"
    http_status: int = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def diagnostics(self) -> str:
        """The text the CLI prints: the message and its code."""
        return f"error: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, str]:
        """The body of the API's error answer."""
        return {"code": self.code, "message": self.message}


class CryptoError(PelError):
    """A key, signature, note or canonical-JSON problem."""

    code = "crypto_error"


class KeyFormatError(CryptoError):
    """A key or verifier-key string is malformed or of the wrong kind."""

    code = "bad_key"


class NoteFormatError(CryptoError):
    """A signed note or cosignature line does not follow C2SP signed-note."""

    code = "bad_note"


class SignatureError(CryptoError):
    """A signature is missing, malformed or does not verify."""

    code = "bad_signature"
    http_status = 400


class CanonicalJSONError(CryptoError):
    """A value cannot be written as RFC 8785 canonical JSON."""

    code = "bad_json"
