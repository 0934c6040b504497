"""Reading a signed trust-list version from a file, for the commands that take one."""

from __future__ import annotations

from pathlib import Path

from pel.ledger.federation.trust_list import SignedTrustList


def read_signed(path: Path) -> SignedTrustList:
    """A signed trust-list version read from a JSON file."""
    return SignedTrustList.from_json(path.read_text())
