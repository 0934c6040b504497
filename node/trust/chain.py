"""A node's copy of the federation trust list: the chain of versions on disk.

``DIR/federation/<version>.json`` holds every version the node applied, from the
genesis whose digest ``node.json`` pins. Loading verifies the whole chain again;
applying a version verifies it against the latest before writing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pel.crypto.note import NoteVerifier
from pel.ledger.errors import TrustListError
from pel.ledger.federation.trust_list import (
    Member,
    SignedTrustList,
    TrustList,
    follow_chain,
    verify_next,
)
from pel.node.config import NodeSettings, load_settings, save_settings
from pel.node.errors import ConfigError

if TYPE_CHECKING:
    from pel.node.agency_node import Node

FEDERATION_DIR = "federation"


def chain_files(directory: Path) -> list[Path]:
    folder = directory / FEDERATION_DIR
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.json"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1)
    if [p.stem for p in files] != [str(i) for i in range(1, len(files) + 1)]:
        raise ConfigError(f"{folder} must hold 1.json, 2.json, … without gaps")
    return files


def applied_versions(directory: Path) -> list[TrustList]:
    """Every trust-list version the node applied, oldest first (as stored: the chain is
    verified by :func:`load_trust_list`)."""
    return [SignedTrustList.from_json(p.read_text()).trust_list for p in chain_files(directory)]


@dataclass(frozen=True)
class KnownKeys:
    """The public keys of every member in every trust-list version the node applied:
    what anything stored that another member signed is checked with."""

    witness: dict[tuple[str, bytes], NoteVerifier]
    logs: dict[str, list[NoteVerifier]]
    agencies: dict[str, str]

    @classmethod
    def of(cls, versions: list[TrustList]) -> KnownKeys:
        witness: dict[tuple[str, bytes], NoteVerifier] = {}
        logs: dict[str, list[NoteVerifier]] = {}
        agencies: dict[str, str] = {}
        for tl in versions:
            for m in tl.members:
                for k in m.witness_keys().keys:
                    witness[(k.verifier.name, k.verifier.key_id)] = k.verifier
                keys = logs.setdefault(m.origin, [])
                keys.extend(v for v in m.log_verifiers() if v not in keys)
                agencies[m.origin] = m.agency
        return cls(witness, logs, agencies)


def load_trust_list(directory: Path, settings: NodeSettings) -> TrustList | None:
    """The latest verified trust list of a node directory; None when it has none."""
    files = chain_files(directory)
    if not files and settings.federation_genesis is None:
        return None
    if settings.federation_genesis is None:
        raise ConfigError("the node holds trust lists but pins no genesis in node.json")
    chain = [SignedTrustList.from_json(p.read_text()) for p in files]
    return follow_chain(settings.federation_genesis, chain)


def apply_version(directory: Path, signed: SignedTrustList) -> TrustList:
    """Verify ``signed`` as the node's next trust-list version and store it.

    The first version applied becomes the pinned genesis.
    """
    settings = load_settings(directory)
    current = load_trust_list(directory, settings)
    if current is not None and signed.trust_list.version <= current.version:
        if signed.trust_list.digest() == _digest_of(directory, signed.trust_list.version):
            return current  # already applied
        raise TrustListError(
            f"version {signed.trust_list.version} is not newer than the node's "
            f"version {current.version}, and differs from it"
        )
    tl = verify_next(signed, current)
    folder = directory / FEDERATION_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{tl.version}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(signed.to_json())
    os.replace(tmp, path)
    if current is None:
        save_settings(directory, settings.model_copy(update={"federation_genesis": tl.digest()}))
    return tl


def _digest_of(directory: Path, version: int) -> str:
    path = directory / FEDERATION_DIR / f"{version}.json"
    return SignedTrustList.from_json(path.read_text()).trust_list.digest()


def member_entry(
    node: Node, *, name: str, url: str, role: str = "both", country: str | None = None
) -> Member:
    """The node's entry for a trust list: its agency, log origin, public URL and public keys.

    Args:
        node: The open node.
        name: The agency's name.
        url: The node's public base URL.
        role: ``sending``, ``receiving`` or ``both``.
        country: ISO 3166 code; by default the agency id's first two letters.
    """
    return Member(
        agency=node.agency,
        country=country or node.agency[:2],
        name=name,
        role=role,
        origin=node.settings.origin,
        url=url,
        log_key=node.log_signer.vkey,
        issuer_key=node.issuer_public_key.to_base64(),
        witness_key=node.witness.signer.vkey,
        witness_mldsa_key=node.witness.pq_signer.vkey if node.witness.pq_signer else None,
    )
