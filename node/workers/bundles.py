"""Assembling workers' proof bundles: this node's part, who may ask for it, and the
merge of every member's part into one bundle.

A node's part holds the pwid's records in its own log and in every log it mirrors
(with the public law a decision on them needs: ``node.law.records``) and, for its
own log, the index proof of the pwid's complete list at its witnessed checkpoint —
also when the list is empty, so a part may prove absence alone
(``ledger.mirror``: verified copies of the other members' logs) — all of them, or a
chosen set with the enrolment and every correction of those — each with a tlog-proof
against the newest checkpoint of that log that carries the trust list's witness
quorum of valid cosignatures. Records not yet under such a checkpoint are left out
and reported as pending; a mirrored log flagged for a proven fork is left out whole
and reported (``left_out``). So one node can hand over a worker's records from every
state, and parts from several nodes merge without duplicates (same log and index).

Who may ask for a part is the read policy's ``Need.WORKER`` (``node.access.policy``): this
agency's reader and admin tokens, the worker's agencies by requests signed with their
issuer keys, and the worker by a request signed with their holder key.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pel.crypto.errors import CryptoError
from pel.crypto.jcs import canonicalize
from pel.crypto.note import NoteSignature, add_signatures, parse_note
from pel.ledger.bundles.bundle import (
    Bundle,
    BundleError,
    BundleIndex,
    build_bundle,
    make_entry,
    make_index,
    merge_bundles,
    verify_bundle,
)
from pel.ledger.bundles.qr import qr_content
from pel.ledger.errors import IntegrityError, LedgerError, NotFoundError
from pel.ledger.federation.quorum import QuorumResult
from pel.ledger.federation.trust_list import Member, TrustList
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import verify_inclusion
from pel.ledger.tlog.checkpoint import Checkpoint
from pel.node.agency_node import Node
from pel.node.errors import ConfigError, PeerError
from pel.node.law.records import held_law, law_for
from pel.node.peers.client import LogClient, RemoteError

BUNDLE_PATH = "/v1/pwids/{pwid}/bundle"


@dataclass
class BundlePart:
    """One node's part of a bundle, the ids of records left out as not yet witnessed,
    and the origins of mirrored logs holding records of the pwid that were left out
    whole because the log is flagged for a proven fork."""

    bundle: Bundle
    pending: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def _trust(node: Node) -> TrustList:
    node.refresh_trust_list()
    if node.trust_list is None:
        raise ConfigError("this node is in no federation: a bundle needs the trust list")
    return node.trust_list


def witnessed_cosignatures(
    text: bytes, signatures: Iterable[NoteSignature], agency: str, trust_list: TrustList
) -> QuorumResult:
    """The quorum check of ``text`` (a checkpoint of ``agency``'s log) under the trust
    list; its ``signatures`` are the valid cosignature lines, each key once."""
    return trust_list.quorum_rule(agency).check(text, signatures)


def witnessed_checkpoint(node: Node, trust_list: TrustList) -> tuple[int, bytes] | None:
    """The newest checkpoint with the witness quorum of cosignatures valid under
    ``trust_list``: its size and note (the log signature and those cosignatures only)."""
    for size in node.log.cosigned_sizes(trust_list.witness_quorum):
        note = node.log.checkpoint_note(size)
        text = parse_note(note).text
        cosigned = parse_note(node.log.cosigned_note(size)).signatures
        result = witnessed_cosignatures(text, cosigned, node.agency, trust_list)
        if result.ok:
            return size, add_signatures(note, result.signatures)
    return None


def mirror_witnessed(node: Node, log: Member, trust_list: TrustList) -> tuple[int, bytes] | None:
    """The newest checkpoint of a mirrored log (within this node's verified copy) with
    the witness quorum valid under ``trust_list``: its size and note, reduced to the
    log's signature and those cosignatures (a bundle verifier refuses any other line)."""
    st = node.mirrors.state(log.origin)
    if st is None or st.note is None:
        return None
    keys = {(k.name, k.key_id): k for k in log.log_verifiers()}
    for note in (st.note, node.mirrors.witnessed(log.origin)):
        if note is None:
            continue
        parsed = parse_note(note)
        size = Checkpoint.parse(parsed.text).size
        signed = [
            s
            for s in parsed.signatures
            if (s.name, s.key_id) in keys
            and keys[(s.name, s.key_id)].verify(parsed.text, s.payload)
        ]
        result = witnessed_cosignatures(parsed.text, parsed.signatures, log.agency, trust_list)
        if size <= st.size and signed and result.ok:
            lines = "".join(s.line() for s in (signed[0], *result.signatures))
            return size, parsed.text + b"\n" + lines.encode()
    return None


@dataclass
class _Held:
    """One log's records of the pwid held here, and how to prove them."""

    records: list[tuple[int, dict[str, Any]]]
    witnessed: tuple[int, bytes] | None
    path: Callable[[int, int], list[bytes]]


def _mirrored(
    node: Node, pwid: str
) -> tuple[dict[str, list[tuple[int, dict[str, Any]]]], list[str]]:
    """The pwid's records in this node's mirrors by origin, and the flagged origins
    (proven forks) that hold some, left out."""
    flagged = node.mirrors.flagged()
    held: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    left_out: set[str] = set()
    for origin, index, entry in node.mirrors.records_of(pwid):
        if origin in flagged:
            left_out.add(origin)
        else:
            held.setdefault(origin, []).append((index, json.loads(entry)))
    return held, sorted(left_out)


def _held(node: Node, pwid: str, trust_list: TrustList) -> tuple[dict[str, _Held], list[str]]:
    """The pwid's records by log origin (own and mirrored), with the law a decision on
    them needs (``node.law.records``), and the flagged origins."""
    logs: dict[str, _Held] = {}
    own = [(i, json.loads(d)) for i, d in node.log.pwid_entries(pwid)]
    mirrored, left_out = _mirrored(node, pwid)
    agencies = {r["issuer"] for _, r in own} | {
        r["issuer"] for recs in mirrored.values() for _, r in recs
    }
    if agencies:
        law = held_law(node)
        keep = law_for(law, agencies)
        for origin, records in law.items():
            extra = [(i, r) for i, r in records if (origin, i) in keep]
            if not extra:
                continue
            if origin == node.settings.origin:
                own = sorted([*own, *extra], key=lambda x: x[0])
            else:
                mirrored[origin] = sorted([*mirrored.get(origin, []), *extra], key=lambda x: x[0])
    if own:
        logs[node.settings.origin] = _Held(
            own, witnessed_checkpoint(node, trust_list), node.log.inclusion_proof
        )
    for origin, records in mirrored.items():
        member = trust_list.member_for_origin(origin)
        witnessed = mirror_witnessed(node, member, trust_list) if member else None

        def path(index: int, size: int, origin: str = origin) -> list[bytes]:
            return node.mirrors.inclusion_proof(origin, index, size)

        logs[origin] = _Held(records, witnessed, path)
    return logs, left_out


def _chosen(logs: dict[str, _Held], record_ids: Iterable[str] | None) -> set[tuple[str, str]]:
    """The (issuer, id) of every record, or of the chosen ones plus the enrolment and
    their corrections."""
    records = [r for o in sorted(logs) for _, r in logs[o].records]
    if record_ids is None:
        return {(r["issuer"], r["id"]) for r in records}
    wanted = set(record_ids)
    missing = sorted(wanted - {r["id"] for r in records})
    if missing:
        raise NotFoundError(f"this node holds no record {missing[0]!r} of this worker")
    keep = {
        (r["issuer"], r["id"]) for r in records if r["id"] in wanted or r["type"] == "enrolment"
    }
    for r in records:  # corrections follow their targets in log order
        if r["type"] in ("amendment", "revocation"):
            target = r["body"]["target"]
            if (target["issuer"], target["id"]) in keep:
                keep.add((r["issuer"], r["id"]))
    return keep


def build_part(node: Node, pwid: str, record_ids: Iterable[str] | None = None) -> BundlePart:
    """This node's part of ``pwid``'s bundle: its own log's records and its mirrors'.

    Every record is checked to lead to its checkpoint's root before it is handed out,
    so a stored entry altered behind the node's back is never passed on as proven.

    Raises:
        NotFoundError: neither the log nor a mirror holds a record of ``pwid`` (or
            not a chosen id).
        IntegrityError: a stored entry does not match the log's tree.
    """
    trust_list = _trust(node)
    logs, left_out = _held(node, pwid, trust_list)
    completeness = _completeness(node, pwid, trust_list, logs)
    if not logs and not left_out and not completeness:
        raise NotFoundError("this node holds no records of that worker (in its log or mirrors)")
    keep = _chosen(logs, record_ids)
    entries = []
    pending: list[str] = []
    for origin in sorted(logs):
        held = logs[origin]
        size, note = held.witnessed or (0, b"")
        root = Checkpoint.parse(parse_note(note).text).root if note else b""
        for i, r in held.records:
            if (r["issuer"], r["id"]) not in keep:
                continue
            if i >= size:
                pending.append(r["id"])
                continue
            path = held.path(i, size)
            try:
                verify_inclusion(i, size, hash_leaf(canonicalize(r)), path, root)
            except (LedgerError, CryptoError):
                raise IntegrityError(
                    f"{origin}: the stored entry {i} does not match the log's tree "
                    f"(checkpoint of size {size}): the stored data is damaged"
                ) from None
            entries.append(make_entry(r, i, path, note))
    if record_ids is not None:
        completeness = []  # a chosen set is not complete by design
    return BundlePart(build_bundle(pwid, trust_list, entries, completeness), pending, left_out)


def _completeness(
    node: Node, pwid: str, trust_list: TrustList, logs: dict[str, _Held]
) -> list[BundleIndex]:
    """The index proof of ``pwid``'s complete list in this node's own log at its
    witnessed checkpoint (when that checkpoint commits to an index). Each member's
    node gives its own log's; a mirror checks a log's index but does not vouch for it."""
    out: list[BundleIndex] = []
    own = logs.get(node.settings.origin)
    witnessed = own.witnessed if own else witnessed_checkpoint(node, trust_list)
    if witnessed is not None and node.log.index:
        size, note = witnessed
        with contextlib.suppress(NotFoundError):  # a checkpoint from before the index
            out.append(make_index(node.log.index_proof(pwid, size), note))
    return out


# ---- across the federation ------------------------------------------------------


@dataclass
class Assembled:
    """A merged bundle, with what each node said (``{url: message}`` for failures;
    ``left_out``: the mirrored logs a node left out as flagged for a proven fork;
    ``skipped``: the nodes not asked, for want of a credential meant for them)."""

    bundle: Bundle
    pending: dict[str, list[str]]
    failed: dict[str, str]
    left_out: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def assemble(
    pwid: str,
    trust_list: TrustList,
    *,
    urls: Sequence[str] | None = None,
    sign: Callable[[str, str | None, str], str | None],
    transport: Any = None,
) -> Assembled:
    """Ask every member's node (or ``urls``) for its part of ``pwid``'s bundle; merge.

    A part that does not verify against ``trust_list`` (also one made under another
    trust-list version) is left out and reported in ``failed``, like a node that
    refused or could not be reached; a node without records of the worker (404) is
    not a failure.

    Args:
        sign: ``sign(url, audience, target)`` gives the ``Authorization`` value for a
            node's URL, the agency whose node the trust list puts at that URL (None
            for a URL it does not name: a signed request cannot be made for it) and
            the request's path as that node sees it; or None when the caller holds no
            credential for that node: it is then not asked, and reported in ``skipped``.

    Raises:
        BundleError: no node shared a witnessed record of the worker.
    """
    targets = list(urls) if urls else [m.url for m in trust_list.members]
    path = BUNDLE_PATH.format(pwid=pwid)
    parts: list[Bundle] = []
    pending: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    left_out: dict[str, list[str]] = {}
    skipped: list[str] = []
    audiences = {m.url.rstrip("/"): m.agency for m in trust_list.members}
    for url in targets:
        with LogClient(url, transport=transport) as client:
            authorization = sign(url, audiences.get(url.rstrip("/")), client.target(path))
            if authorization is None:
                skipped.append(url)
                continue
            try:
                text, waiting, flagged = client.pwid_bundle(path, authorization)
            except RemoteError as exc:
                if exc.status != 404:
                    failed[url] = f"{exc.message} [{exc.code}]"
                continue
            except PeerError as exc:
                failed[url] = exc.message
                continue
        try:
            part = Bundle.from_json(text)
            if part.pwid != pwid:
                raise BundleError("pwid_mismatch", "the part is of another worker")
            if part.records or part.completeness:  # checked like a bundle before merging
                verify_bundle(part, trust_list)
                parts.append(part)
        except LedgerError as exc:
            failed[url] = f"its part does not verify: {exc.message} [{exc.code}]"
            continue
        if waiting:
            pending[url] = waiting
        if flagged:
            left_out[url] = flagged
    if not any(p.records for p in parts):
        unlisted = [u for u in skipped if u.rstrip("/") not in audiences]
        listed = [u for u in skipped if u not in unlisted]
        unasked = f" (not asked, no credential for them: {', '.join(listed)})" if listed else ""
        if unlisted:
            unasked += (
                f" (not asked, the trust list names no member at {', '.join(unlisted)}: a "
                "signed request is made for one member's node)"
            )
        raise BundleError(
            "no_records",
            "no node holds a witnessed record of this worker that it would share" + unasked,
        )
    return Assembled(merge_bundles(parts, trust_list), pending, failed, left_out, skipped)


# ---- QR ---------------------------------------------------------------------------


def write_qr(bundle: Bundle, path: Path, *, ref_url: str | None = None) -> str:
    """Write a PNG QR code of what :func:`ledger.bundles.qr.qr_content` says it holds
    (the bundle itself when it fits, else a reference: its digest and ``ref_url``);
    return ``embedded`` or ``reference``."""
    import segno

    kind, text = qr_content(bundle, ref_url)
    mode = "alphanumeric" if kind == "embedded" else None
    segno.make(text, error="m", micro=False, mode=mode).save(
        str(path), kind="png", scale=4, border=4
    )
    return kind
