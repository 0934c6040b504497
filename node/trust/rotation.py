"""Rotating a node's keys through the trust list (``pel keys rotate``).

A rotation has three steps, so no key is used before the federation lists it:

1. :func:`rotate_key` makes the new key, ``keys/<role>.next.pem`` (0600; for the
   witness also ``keys/witness-mldsa.next.pem``), and returns the member entry for
   the next trust-list version: the new key in place, the old one moved to
   ``retired_keys`` with the end of its validity (now plus an overlap, during which
   the node still signs with the old key while the version gathers signatures).
2. The members sign and apply that version as any other (``pel federation …``).
3. Once the node's trust list lists the new key, :func:`install_rotated_keys` moves
   the old key file aside (``keys/<role>.retired-<time>.pem``) and the new one into
   place; a running node does this when it sees the version (``Node.refresh_trust_list``)
   and then signs with the new key.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from pel.crypto.cosignature import CosignatureSigner, MLDSACosignatureSigner
from pel.crypto.keys import SigningKey
from pel.crypto.mldsa import MLDSASigningKey
from pel.crypto.note import NoteSigner
from pel.ledger.errors import TrustListError
from pel.ledger.federation.trust_list import Member, RetiredKey
from pel.node.config import KEY_FILES, MLDSA_KEY_FILE, NodeSettings
from pel.node.errors import ConfigError
from pel.node.trust.chain import load_trust_list
from pel.node.trust.secret_files import read_mldsa_key, read_private_key, write_private_key

ROLES = ("issuer", "log", "witness")


def _next(rel: str) -> str:
    return rel.removesuffix(".pem") + ".next.pem"


def _files(role: str) -> list[str]:
    """The key files a role rotates: the witness has two keys."""
    return [KEY_FILES[role], MLDSA_KEY_FILE] if role == "witness" else [KEY_FILES[role]]


def _time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rotate_key(
    directory: Path,
    settings: NodeSettings,
    role: str,
    *,
    overlap: int = 3600,
    now: dt.datetime | None = None,
) -> Member:
    """Make the new key of ``role`` and return the member entry that lists it.

    Args:
        directory: The node directory.
        settings: Its settings.
        role: ``issuer``, ``log`` or ``witness``.
        overlap: Seconds the old key stays valid, for the new version to be signed
            and applied; what the old key signs after that is refused everywhere.
        now: The rotation time (default: now).

    Raises:
        ConfigError: unknown role, no trust list, or a rotation already waiting.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown key role {role!r}: give issuer, log or witness")
    if overlap < 0:
        raise ConfigError("the overlap is a number of seconds, 0 or more")
    tl = load_trust_list(directory, settings)
    member = tl.member(settings.agency) if tl else None
    if tl is None or member is None:
        raise ConfigError("the node is in no trust list: there is no listed key to rotate")
    for rel in _files(role):
        if (directory / _next(rel)).exists():
            raise ConfigError(
                f"{directory / _next(rel)} exists: a rotation already waits for its version"
            )
    now = now or dt.datetime.now(dt.UTC)
    # Whole seconds, rounded up: a record stamped in the second of the rotation is
    # still before the end of the old key's validity.
    until = _time(now.replace(microsecond=0) + dt.timedelta(seconds=1 + overlap))
    retired = list(member.retired_keys)

    def since(r: str) -> str | None:
        # The old key took over when its predecessor was retired (unknown for the first).
        ends = [k.valid_until for k in retired if k.role == r]
        return max(ends) if ends else None

    changes: dict[str, str] = {}
    if role == "issuer":
        key = SigningKey.generate()
        retired.append(
            RetiredKey(
                role="issuer", key=member.issuer_key, valid_from=since("issuer"), valid_until=until
            )
        )
        changes["issuer_key"] = key.public_key.to_base64()
        write_private_key(directory / _next(KEY_FILES["issuer"]), key)
    elif role == "log":
        key = SigningKey.generate()
        retired.append(
            RetiredKey(role="log", key=member.log_key, valid_from=since("log"), valid_until=until)
        )
        changes["log_key"] = NoteSigner(settings.origin, key).vkey
        write_private_key(directory / _next(KEY_FILES["log"]), key)
    else:
        name = member.witness_verifier.name
        ed, pq = SigningKey.generate(), MLDSASigningKey.generate()
        retired.append(
            RetiredKey(
                role="witness",
                key=member.witness_key,
                valid_from=since("witness"),
                valid_until=until,
            )
        )
        changes["witness_key"] = CosignatureSigner(name, ed).vkey
        if member.witness_mldsa_key is not None:
            retired.append(
                RetiredKey(
                    role="witness_mldsa",
                    key=member.witness_mldsa_key,
                    valid_from=since("witness_mldsa"),
                    valid_until=until,
                )
            )
        changes["witness_mldsa_key"] = MLDSACosignatureSigner(name, pq).vkey
        write_private_key(directory / _next(KEY_FILES["witness"]), ed)
        write_private_key(directory / _next(MLDSA_KEY_FILE), pq)
    return member.model_copy(update={**changes, "retired_keys": tuple(retired)})


def install_rotated_keys(directory: Path, settings: NodeSettings) -> list[str]:
    """Put in place each waiting key that the node's trust list now lists.

    Returns:
        The roles whose keys were installed.
    """
    waiting = [r for r in ROLES if any((directory / _next(f)).exists() for f in _files(r))]
    if not waiting:
        return []
    try:
        tl = load_trust_list(directory, settings)
    except TrustListError:
        return []
    member = tl.member(settings.agency) if tl else None
    if member is None:
        return []
    installed = []
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for role in waiting:
        if not _listed(directory, member, role):
            continue
        for rel in _files(role):
            new = directory / _next(rel)
            if not new.exists():
                continue
            old = directory / rel
            if old.exists():
                os.replace(old, directory / (rel.removesuffix(".pem") + f".retired-{stamp}.pem"))
            os.replace(new, old)
        installed.append(role)
    return installed


def _listed(directory: Path, member: Member, role: str) -> bool:
    """Whether the trust list lists the waiting key of ``role`` as the member's current one."""
    if role == "issuer":
        key = read_private_key(directory / _next(KEY_FILES["issuer"]))
        return member.issuer_key == key.public_key.to_base64()
    if role == "log":
        key = read_private_key(directory / _next(KEY_FILES["log"]))
        return member.log_verifier.public_key == key.public_key
    key = read_private_key(directory / _next(KEY_FILES["witness"]))
    if member.witness_verifier.public_key != key.public_key:
        return False
    pq_path = directory / _next(MLDSA_KEY_FILE)
    if pq_path.exists() and member.witness_mldsa_key is not None:
        pq = read_mldsa_key(pq_path)
        mv = member.witness_mldsa_verifier
        return mv is not None and mv.public_key == pq.public_key
    return True
