"""Assembling workers' proof bundles: this node's part, who may ask for it, and the
merge of every member's part into one bundle.

A node's part holds its own records of the subject (all of them, or a chosen set
with the enrolment and every correction of those), each with a tlog-proof against
the newest checkpoint that carries the trust list's witness quorum of valid
cosignatures. Records not yet under such a checkpoint are left out and reported
as pending.

Who may ask (``authorise``), answered 401 without credentials or with bad ones,
403 when they do not grant this subject:

* this node's own write token (``Bearer``): the issuing agency;
* ``Pel-Agency`` signed with a member's issuer key (``crypto.request``) within
  ±300 s: the worker's home agency (the member whose country is the PWID's
  prefix), this node's own agency, or an agency that this subject's records here
  name (an entitlement's ``based_on``);
* ``Pel-Holder`` signed with the ``holder_key`` of the subject's standing
  enrolment, where this node holds that enrolment (the home node).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.cosignature import verify_cosignature
from crypto.errors import CryptoError
from crypto.keys import PublicKey
from crypto.note import NoteSignature, add_signatures, parse_note
from crypto.request import AGENCY_SCHEME, parse_authorization
from ledger.bundle import (
    Bundle,
    BundleError,
    build_bundle,
    make_entry,
    merge_bundles,
    verify_bundle,
)
from ledger.bundle_qr import encode_qr_text, reference_text
from ledger.errors import LedgerError, NotFoundError
from ledger.federation import TrustList
from node.client import LogClient, RemoteError
from node.errors import AuthError, ConfigError, ForbiddenError, PeerError
from node.node import Node
from node.tokens import authenticate

MAX_SKEW = 300
BUNDLE_PATH = "/v1/subjects/{pwid}/bundle"


@dataclass
class BundlePart:
    """One node's part of a bundle, and the ids of records left out as not yet witnessed."""

    bundle: Bundle
    pending: list[str] = field(default_factory=list)


def _trust(node: Node) -> TrustList:
    node.refresh_trust_list()
    if node.trust_list is None:
        raise ConfigError("this node is in no federation: a bundle needs the trust list")
    return node.trust_list


def witnessed_checkpoint(node: Node, trust_list: TrustList) -> tuple[int, bytes] | None:
    """The newest checkpoint with the witness quorum of cosignatures valid under
    ``trust_list``: its size and note (the log signature and those cosignatures only)."""
    need = trust_list.witness_quorum
    if need < 1:
        return None
    witnesses = {
        (m.witness_verifier.name, m.witness_verifier.key_id): m.witness_verifier
        for m in trust_list.members
        if m.agency != node.agency
    }
    for size in node.log.cosigned_sizes(need):
        note = node.log.checkpoint_note(size)
        text = parse_note(note).text
        good: list[NoteSignature] = []
        for sig in parse_note(node.log.cosigned_note(size)).signatures:
            verifier = witnesses.get((sig.name, sig.key_id))
            if verifier is None:
                continue
            try:
                verify_cosignature(text, sig, verifier)
            except CryptoError:
                continue
            good.append(sig)
        if len(good) >= need:
            return size, add_signatures(note, good)
    return None


def _chosen(
    records: list[tuple[int, dict[str, Any]]], record_ids: Iterable[str] | None
) -> list[tuple[int, dict[str, Any]]]:
    """All records, or the chosen ones plus the enrolment and their corrections."""
    if record_ids is None:
        return records
    wanted = set(record_ids)
    known = {r["id"] for _, r in records}
    missing = sorted(wanted - known)
    if missing:
        raise NotFoundError(f"this log holds no record {missing[0]!r} of this worker")
    keep = set(wanted) | {r["id"] for _, r in records if r["type"] == "enrolment"}
    for _, r in records:  # corrections follow their targets in log order
        if r["type"] in ("amendment", "revocation") and r["body"]["target"]["id"] in keep:
            keep.add(r["id"])
    return [(i, r) for i, r in records if r["id"] in keep]


def build_part(node: Node, subject: str, record_ids: Iterable[str] | None = None) -> BundlePart:
    """This node's part of ``subject``'s bundle.

    Raises:
        NotFoundError: the log holds no record of ``subject`` (or not a chosen id).
    """
    trust_list = _trust(node)
    stored = [(i, json.loads(d)) for i, d in node.log.subject_entries(subject)]
    if not stored:
        raise NotFoundError("this log holds no records of that worker")
    chosen = _chosen(stored, record_ids)
    witnessed = witnessed_checkpoint(node, trust_list)
    size, note = witnessed if witnessed else (0, b"")
    entries = [
        make_entry(r, i, node.log.inclusion_proof(i, size), note) for i, r in chosen if i < size
    ]
    pending = [r["id"] for i, r in chosen if i >= size]
    return BundlePart(build_bundle(subject, trust_list, entries), pending)


# ---- who may ask ----------------------------------------------------------------


def _holder_keys(records: Sequence[dict[str, Any]]) -> list[str]:
    """The holder keys of the subject's standing enrolments (amendments applied)."""
    revoked = {r["body"]["target"]["id"] for r in records if r["type"] == "revocation"}
    bodies = {r["id"]: r["body"] for r in records if r["type"] == "enrolment"}
    for r in records:
        if r["type"] == "amendment" and r["body"]["target"]["id"] in bodies:
            bodies[r["body"]["target"]["id"]] = r["body"]["body"]
    return [
        b["holder_key"] for rid, b in bodies.items() if rid not in revoked and "holder_key" in b
    ]


def _named_agencies(records: Sequence[dict[str, Any]]) -> set[str]:
    return {
        ref["issuer"]
        for r in records
        if r["type"] == "entitlement"
        for ref in r["body"].get("based_on", [])
    }


def authorise(node: Node, subject: str, authorization: str | None, *, path: str, now: int) -> str:
    """Who asks for ``subject``'s bundle part at ``path``; raise unless they may.

    Returns:
        ``agency:<ID>`` or ``holder``.

    Raises:
        AuthError: no credentials, or credentials that do not verify (401).
        ForbiddenError: valid credentials that do not grant this subject (403).
    """
    if not authorization:
        raise AuthError(
            "credentials are required: a write token, or a request signed by a member agency "
            "(Pel-Agency) or by the worker (Pel-Holder)"
        )
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return "agency:" + authenticate(node.engine, rest.strip())
    try:
        request = parse_authorization(authorization)
    except CryptoError as exc:
        raise AuthError(f"bad authorization: {exc.message}") from None
    if abs(now - request.time) > MAX_SKEW:
        raise AuthError(f"the signed request's time is more than {MAX_SKEW} s from this node's")
    records = [json.loads(d) for _, d in node.log.subject_entries(subject)]
    if request.scheme == AGENCY_SCHEME:
        trust_list = _trust(node)
        member = trust_list.member(request.agency or "")
        if member is None or not request.verify(member.issuer_public_key, "GET", path):
            raise AuthError("the request is not signed by a member agency's issuer key")
        if (
            member.agency == node.agency
            or member.country == subject[:2]
            or member.agency in _named_agencies(records)
        ):
            return "agency:" + member.agency
        raise ForbiddenError(f"{member.agency} is not one of this worker's agencies")
    for key in _holder_keys(records):
        if request.verify(PublicKey.from_base64(key), "GET", path):
            return "holder"
    raise ForbiddenError("the request is not signed by the key of an enrolment held here")


# ---- across the federation ------------------------------------------------------


@dataclass
class Assembled:
    """A merged bundle, with what each node said (``{url: message}`` for failures)."""

    bundle: Bundle
    pending: dict[str, list[str]]
    failed: dict[str, str]


def assemble(
    subject: str,
    trust_list: TrustList,
    *,
    urls: Sequence[str] | None = None,
    sign: Callable[[str], str],
    transport: Any = None,
) -> Assembled:
    """Ask every member's node (or ``urls``) for its part of ``subject``'s bundle; merge.

    A part that does not verify against ``trust_list`` (also one made under another
    trust-list version) is left out and reported in ``failed``, like a node that
    refused or could not be reached; a node without records of the worker (404) is
    not a failure.

    Args:
        sign: Gives the ``Authorization`` value for a request path.

    Raises:
        BundleError: no node shared a witnessed record of the worker.
    """
    targets = list(urls) if urls else [m.url for m in trust_list.members]
    path = BUNDLE_PATH.format(pwid=subject)
    parts: list[Bundle] = []
    pending: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    for url in targets:
        with LogClient(url, transport=transport) as client:
            try:
                text, waiting = client.subject_bundle(path, sign(path))
            except RemoteError as exc:
                if exc.status != 404:
                    failed[url] = f"{exc.message} [{exc.code}]"
                continue
            except PeerError as exc:
                failed[url] = exc.message
                continue
        try:
            part = Bundle.from_json(text)
            if part.subject != subject:
                raise BundleError("subject_mismatch", "the part is of another worker")
            if part.records:  # a part is checked like a bundle before it is merged
                verify_bundle(part, trust_list)
                parts.append(part)
        except LedgerError as exc:
            failed[url] = f"its part does not verify: {exc.message} [{exc.code}]"
            continue
        if waiting:
            pending[url] = waiting
    if not parts:
        raise BundleError(
            "no_records", "no node holds a witnessed record of this worker that it would share"
        )
    return Assembled(merge_bundles(parts, trust_list), pending, failed)


# ---- QR ---------------------------------------------------------------------------


def write_qr(bundle: Bundle, path: Path, *, ref_url: str | None = None) -> str:
    """Write a PNG QR code of the bundle itself when it fits, else of a reference
    (its digest and ``ref_url``); return ``embedded`` or ``reference``."""
    import segno

    try:
        qr = segno.make(encode_qr_text(bundle), error="m", micro=False, mode="alphanumeric")
        kind = "embedded"
    except (segno.DataOverflowError, ValueError):
        qr = segno.make(reference_text(bundle.digest(), ref_url), error="m", micro=False)
        kind = "reference"
    qr.save(str(path), kind="png", scale=4, border=4)
    return kind
