"""Who may read what: the node's read policy, written down once and applied to every route.

``POLICY`` is a table of (methods, path pattern, need), first match wins; a route that
no line names needs ``Need.ENTRIES`` (credentials that may read records), so a route
added without a line here is protected, never public by accident. Adding a route means
adding a line. ``docs/access.md`` explains the table.

A request is answered in this order: credentials (``identify``: 401 without any, or
with credentials that do not verify), then the grant (``grant``: 403 when they do not
grant this request), and only then is the input checked and the resource looked up,
so no answer says whether a PWID exists to someone who may not know it.

Credentials (``Authorization`` header only, see ``api.credentials``):

* ``Bearer <token>``: a token this node issued (``node.access.tokens``): staff ``writer``,
  ``reader``, ``admin``, or an ``auditor``;
* ``Pel-Agency``: a request signed by a member's issuer key from the trust list
  (``crypto.request``): another member's node;
* ``Pel-Holder``: a request signed by a worker's holder key, which grants only the
  records of the PWID whose standing enrolment (held here) binds that key.

A signed request counts only if it was made for this node (its audience is this node's
agency), for the body received, within ±``MAX_SKEW`` seconds of the node's time, and,
for a method other than GET and HEAD, was not received before (``node.access.replay_guard``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pel.crypto.errors import CryptoError
from pel.crypto.keys import PublicKey
from pel.crypto.request import OUTDATED, SCHEMES, SignedRequest, parse_authorization
from pel.node.access.replay_guard import MAX_SKEW
from pel.node.access.tokens import token_info
from pel.node.agency_node import Node
from pel.node.errors import AuthError, ForbiddenError

# Methods that change nothing: their signed requests are not remembered (replay_guard).
SAFE_METHODS = frozenset({"GET", "HEAD"})


class Need(StrEnum):
    """What a request needs."""

    PUBLIC = "public"  # no credentials: hashes, signed checkpoints, public documents
    WRITE = "write"  # staff writer or admin
    ENTRIES = "entries"  # any record of a log: staff reader/admin, auditors, member nodes
    WORKER = "worker"  # one worker's records: their agencies, staff reader/admin, the worker
    ACCESS_LOG = "access_log"  # who read a worker's records: the worker, or the admin


@dataclass(frozen=True, slots=True)
class Rule:
    methods: frozenset[str] | None  # None: any method
    pattern: re.Pattern[str]
    need: Need


def _rule(methods: str, pattern: str, need: Need) -> Rule:
    return Rule(
        None if methods == "*" else frozenset(methods.split(",")), re.compile(pattern), need
    )


_PWID = r"(?P<pwid>[^/]+)"
# A mirror's tlog-tiles path is split at its last "/tile/" (api.routers.mirror): an entry
# bundle when what follows that is "entries/…".
_MIRROR_ENTRIES = r"/mirror/.*/tile/entries/(?:(?!/tile/).)*"

#: The read policy, first match wins; see the module docstring and docs/access.md.
POLICY: tuple[Rule, ...] = (
    # tlog-tiles: checkpoints and hash tiles are public, entry bundles carry records
    _rule("GET", r"/checkpoint", Need.PUBLIC),
    _rule("GET", r"/tile/entries/.*", Need.ENTRIES),
    _rule("GET", r"/tile/.*", Need.PUBLIC),
    _rule("GET", _MIRROR_ENTRIES, Need.ENTRIES),
    _rule("GET", r"/mirror/.+", Need.PUBLIC),
    # proofs (hashes only), witnessing, gossip
    _rule("GET", r"/v1/proof/(inclusion|consistency)", Need.PUBLIC),
    _rule("POST", r"/add-checkpoint", Need.PUBLIC),
    _rule("POST", r"/v1/gossip", Need.PUBLIC),
    # public documents: the trust list, each state's rules, agreements; the node's state
    _rule("GET", r"/v1/federation", Need.PUBLIC),
    _rule("GET", r"/v1/law/(rules|agreements)(/.*)?", Need.PUBLIC),
    _rule("GET", r"/v1/rules(/.*)?", Need.PUBLIC),
    _rule("GET", r"/v1/agreements(/.*)?", Need.PUBLIC),
    _rule("GET", r"/v1/node", Need.PUBLIC),
    _rule("GET", r"/healthz|/metrics", Need.PUBLIC),
    # the pages (the explorer shows the log, not its records) and the API's description
    _rule("GET", r"/|/verify|/worker|/docs(/.*)?|/redoc|/openapi\.json", Need.PUBLIC),
    # records
    _rule("POST", r"/v1/records", Need.WRITE),
    _rule("GET", r"/v1/records/.*", Need.ENTRIES),
    _rule("GET", rf"/v1/pwids/{_PWID}/bundle", Need.WORKER),
    _rule("GET", rf"/v1/pwids/{_PWID}/access-log", Need.ACCESS_LOG),
    _rule("*", r"/v1/pwids/.*", Need.WORKER),
    # decisions and the PWID index say what a worker has: protected
    _rule("*", r"/v1/decisions(/.*)?", Need.ENTRIES),
    _rule("*", r"/v1/index(/.*)?", Need.ENTRIES),
)
DEFAULT = Need.ENTRIES


def need_for(method: str, path: str) -> tuple[Need, str | None]:
    """What a request for ``path`` needs, and the PWID it names (if any)."""
    for rule in POLICY:
        if rule.methods is not None and method.upper() not in rule.methods:
            continue
        m = rule.pattern.fullmatch(path)
        if m:
            return rule.need, m.groupdict().get("pwid")
    return DEFAULT, None


# ---- who asks ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request comes from, once their credentials verified.

    ``kind`` is ``staff`` (``role`` writer/reader/admin), ``auditor``, ``member`` (the
    agency ``name``) or ``holder``. ``signed`` is the signed request of a member (its
    signature verified) or of a holder (checked against a PWID's key by ``grant``).
    """

    kind: str
    name: str
    role: str = ""
    token_id: str = ""
    signed: SignedRequest | None = None

    def who(self) -> str:
        """How the access record names this caller (no person's name: token labels are
        the agency's own words for its staff or auditors, ids for revoking)."""
        if self.kind == "staff":
            return f"{self.name} staff ({self.role}, token {self.token_id})"
        if self.kind == "auditor":
            return f"auditor {self.name} (token {self.token_id})"
        if self.kind == "member":
            return f"{self.name} node"
        return "the worker (holder key)"


def identify(
    node: Node,
    authorization: str | None,
    method: str,
    target: str,
    *,
    now: int,
    body: bytes = b"",
) -> Caller:
    """The caller behind ``authorization`` on a ``method`` request to ``target`` (the
    path, then ``?`` and the query as received when there is one) with ``body``.

    Raises:
        AuthError: no credentials, or credentials that do not verify (401); the code
            says why a signed request was refused when it is more than a bad signature.
    """
    if not authorization:
        raise AuthError(
            "credentials are required: a token of this node (Bearer), a request signed by "
            "a member agency (Pel-Agency), or by the worker (Pel-Holder)"
        )
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        info = token_info(node.tokens, rest.strip())
        if info.role == "auditor":
            return Caller("auditor", info.label or info.agency, info.role, info.id)
        return Caller("staff", info.agency, info.role, info.id)
    try:
        signed = parse_authorization(authorization)
    except CryptoError as exc:
        code = OUTDATED if exc.code == OUTDATED else None
        raise AuthError(f"bad authorization: {exc.message}", code=code) from None
    if abs(now - signed.time) > MAX_SKEW:
        raise AuthError(f"the signed request's time is more than {MAX_SKEW} s from this node's")
    if signed.audience != node.agency:
        raise AuthError(
            f"this request was signed for {signed.audience}'s node, and this is "
            f"{node.agency}'s: a signed request is good only at the node it was made for",
            code="wrong_audience",
        )
    if not signed.covers_body(body):
        raise AuthError(
            "the request's body is not the one that was signed (its SHA-256 differs)",
            code="body_mismatch",
        )
    if signed.agency is None:
        return Caller("holder", "holder", signed=signed)
    node.refresh_trust_list()
    member = node.trust_list.member(signed.agency) if node.trust_list else None
    key = member.issuer_public_key if member else None
    if key is None and signed.agency == node.agency:
        key = node.issuer_public_key
    if key is None or not signed.verify(key, method, target):
        raise AuthError("the request is not signed by a member agency's issuer key")
    return Caller("member", signed.agency, signed=signed)


def is_signed(authorization: str | None) -> bool:
    """Whether ``authorization`` is a signed request (so its body is part of it)."""
    return bool(authorization) and authorization.strip().partition(" ")[0] in SCHEMES


# ---- what they may read -----------------------------------------------------------------


def _holder_keys(records: Sequence[dict[str, Any]]) -> list[str]:
    """The holder keys of the PWID's standing enrolments (amendments applied)."""
    revoked = {
        (r["body"]["target"]["issuer"], r["body"]["target"]["id"])
        for r in records
        if r["type"] == "revocation"
    }
    bodies = {(r["issuer"], r["id"]): r["body"] for r in records if r["type"] == "enrolment"}
    for r in records:  # in log order: the newest amendment wins
        target = r["body"].get("target") if r["type"] == "amendment" else None
        if target and (target["issuer"], target["id"]) in bodies:
            bodies[(target["issuer"], target["id"])] = r["body"]["body"]
    return [b["holder_key"] for k, b in bodies.items() if k not in revoked and "holder_key" in b]


def _agencies(records: Sequence[dict[str, Any]]) -> set[str]:
    """The agencies that issued the PWID's records held here, or that they name."""
    return {r["issuer"] for r in records} | {
        ref["issuer"]
        for r in records
        if r["type"] == "entitlement"
        for ref in r["body"].get("based_on", [])
    }


def records_held(node: Node, pwid: str) -> list[dict[str, Any]]:
    """The PWID's records in this node's log and its mirrors (not flagged ones)."""
    flagged = node.mirrors.flagged()
    records = [json.loads(d) for _, d in node.log.pwid_entries(pwid)]
    records += [
        json.loads(d) for origin, _, d in node.mirrors.records_of(pwid) if origin not in flagged
    ]
    return records


def holder_of(node: Node, caller: Caller, pwid: str, method: str, target: str) -> bool:
    """Whether ``caller`` signed ``target`` with the key of ``pwid``'s standing enrolment."""
    if caller.kind != "holder" or caller.signed is None:
        return False
    for key in _holder_keys(records_held(node, pwid)):
        try:
            if caller.signed.verify(PublicKey.from_base64(key), method, target):
                return True
        except CryptoError:
            continue
    return False


def grant(
    node: Node, need: Need, caller: Caller, *, method: str, target: str, pwid: str | None
) -> Caller:
    """``caller`` if they may make a request that needs ``need`` (``target``: the signed
    path and query, against which a worker's signature is checked).

    Raises:
        ForbiddenError: the credentials do not grant this request (403). The same
            answer whether or not the PWID has records here.
    """
    role = caller.role
    if need is Need.WRITE:
        if caller.kind == "staff" and role in ("writer", "admin"):
            return caller
        raise ForbiddenError("only this agency's writer or admin tokens submit records")
    if need is Need.ENTRIES:
        if caller.kind in ("auditor", "member") or role in ("reader", "admin"):
            return caller
        raise ForbiddenError(
            "these credentials do not read a log's records (a worker reads their own at "
            "/v1/pwids/{pwid}/bundle)"
        )
    assert pwid is not None
    if need is Need.ACCESS_LOG:
        if role == "admin" and caller.kind == "staff":
            return caller
        if caller.kind == "holder" and holder_of(node, caller, pwid, method, target):
            return caller
        raise ForbiddenError("only the worker (holder key) or the agency's admin reads this")
    # Need.WORKER
    if caller.kind == "staff" and role in ("reader", "admin"):
        return caller
    if caller.kind == "member":
        if is_workers_agency(node, caller.name, pwid):
            return caller
        raise ForbiddenError(f"{caller.name} is not one of this worker's agencies")
    if caller.kind == "holder" and holder_of(node, caller, pwid, method, target):
        return caller
    raise ForbiddenError("these credentials do not grant this worker's records")


def is_workers_agency(node: Node, agency: str, pwid: str) -> bool:
    """Whether a member agency is one of ``pwid``'s agencies: this node's own, the home
    state's (the trust list's country of the member), or one that issued or names a
    record of the worker held here. The one rule for bundles and decisions alike."""
    if agency == node.agency or pwid[:2] == _country(node, agency):
        return True
    return agency in _agencies(records_held(node, pwid))


def _country(node: Node, agency: str) -> str | None:
    member = node.trust_list.member(agency) if node.trust_list else None
    return member.country if member else None


def authorise(
    node: Node,
    method: str,
    path: str,
    authorization: str | None,
    *,
    now: int,
    query: str = "",
    body: bytes = b"",
) -> Caller | None:
    """Apply the policy to one request: None for a public one, else the granted caller.

    Args:
        path: The request's path, as the router sees it.
        query: The query string exactly as received (no ``?``), or "".
        body: The request body (only a signed request's is looked at).

    Raises:
        AuthError: 401, see ``identify``; ``replayed_request`` for a signed request
            other than GET or HEAD that this node already received.
        ForbiddenError: 403, see ``grant``.
        BusyError: 429, too many signed writes to remember (``node.access.replay_guard``).
    """
    need, pwid = need_for(method, path)
    if need is Need.PUBLIC:
        return None
    target = f"{path}?{query}" if query else path
    caller = identify(node, authorization, method, target, now=now, body=body)
    granted = grant(node, need, caller, method=method, target=target, pwid=pwid)
    signed = granted.signed
    # Only now: the signature has verified (a member's in identify, a worker's in grant),
    # so only real signers' requests take room in the guard.
    if (
        signed is not None
        and method.upper() not in SAFE_METHODS
        and not node.replays.first_sight(signed.sig, signed.time, now=now)
    ):
        raise AuthError(
            "this signed request was already received: a request that changes something "
            "is accepted once; sign each request anew",
            code="replayed_request",
        )
    return granted
