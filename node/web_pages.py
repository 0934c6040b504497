"""The node's web pages: the bundle verifier with a trust list embedded, and the explorer.

The pages are self-contained HTML files shipped in the ``web`` package (inline CSS and
JS, no external fetches). The verifier carries the trust list it checks against in a
``<script type="application/json" id="pel-trust-list">`` element, so a saved copy, or
the standalone file ``pel web verifier`` writes, verifies bundles with no server.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from pel.ledger.federation.trust_list import SignedTrustList
from pel.node.trust.chain import chain_files

TRUST_SLOT = '<script type="application/json" id="pel-trust-list">null</script>'


def page(name: str) -> str:
    """The text of one page of the ``web`` package (``verify.html``, ``explorer.html``)."""
    return resources.files("pel.web").joinpath(name).read_text(encoding="utf-8")


def trust_document(signed: SignedTrustList) -> dict[str, Any]:
    """A signed trust-list version as the JSON object its file holds."""
    return json.loads(signed.to_json())  # type: ignore[no-any-return]


def current_trust_document(directory: Path) -> dict[str, Any] | None:
    """The node's latest applied trust-list version with its signatures; None without one.

    The chain was verified when the node loaded it; the file is read again so a version
    applied since shows at once.
    """
    files = chain_files(directory)
    if not files:
        return None
    return trust_document(SignedTrustList.from_json(files[-1].read_text()))


def verifier_page(trust: dict[str, Any] | None, name: str = "verify.html") -> str:
    """``verify.html`` (or another page with the slot, such as ``worker.html``) with
    ``trust`` (a signed trust-list document, or None) embedded."""
    html = page(name)
    # ``<`` escaped inside the JSON, so no member field can close the script element.
    data = json.dumps(trust, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c")
    slot = TRUST_SLOT.replace(">null<", f">{data}<")
    if html.count(TRUST_SLOT) != 1:
        raise RuntimeError(f"{name} has lost its trust-list slot")
    return html.replace(TRUST_SLOT, slot)


def write_verifier(trust_file: Path, out: Path) -> SignedTrustList:
    """Write the standalone verifier for the trust list in ``trust_file``; return that list."""
    signed = SignedTrustList.from_json(trust_file.read_text())
    out.write_text(verifier_page(trust_document(signed)), encoding="utf-8")
    return signed
