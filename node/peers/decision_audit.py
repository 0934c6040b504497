"""The auditor decides again: every ``entitlement`` record that names its basis is
recomputed from the logged records, rules and agreements, and compared.

``pel audit`` downloads every entry of the audited log; the entitlement records with a
``basis`` among them are kept (:class:`Entitlements`). For each one, the records its
basis names are fetched from their logs (the audited source for its own log, and its
mirrors, ``<source>/mirror/<origin>``, for the others: the auditor's token is that node's
and goes to no other node) and checked before anything is decided
on them: the log's signed checkpoint, the basis checkpoint's root rebuilt from the
served tiles (so it is a prefix of the signed log), each entry's inclusion under that
root, and each record's issuer signature (an agreement's every party's). Then the
decision is made again (``ledger.portability``) and the recorded figures compared with
:func:`ledger.portability.entitlement.differences`.

A state that records less (or more) than its rules say is reported as a failure
``entitlement_mismatch`` with the evidence: the record, each differing field recorded
and recomputed, and the recomputed figures with their reasons. A basis that cannot be
fetched or does not verify is a failure ``bad_basis``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from pel.crypto.errors import PelError
from pel.crypto.record import verify_record
from pel.ledger.federation.trust_list import TrustList
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import inclusion_proof, tree_hash, verify_inclusion
from pel.ledger.merkle.tiles import TILE_WIDTH, TileHashReader, decode_entry_bundle
from pel.ledger.portability.agreements import verify_agreement
from pel.ledger.portability.engine import Claim, decide
from pel.ledger.portability.entitlement import differences
from pel.ledger.portability.inputs import sort_inputs
from pel.ledger.portability.periods import ProvenRef, SourcedRecord
from pel.ledger.tlog.checkpoint import open_checkpoint
from pel.node.errors import NodeError
from pel.node.peers.client import LogClient, ServedTiles

Fail = Callable[[str, str, dict[str, Any]], None]
_MARK = b'"basis":{'


@dataclass
class Entitlements:
    """The entitlement records with a basis seen while the entries were downloaded."""

    found: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def take(self, first: int, entries: Sequence[bytes]) -> None:
        """Keep the entitlements with a basis among ``entries`` (``first``: the first's index)."""
        for i, entry in enumerate(entries):
            if _MARK in entry and b'"type":"entitlement"' in entry:
                try:
                    self.found.append((first + i, json.loads(entry)))
                except ValueError:
                    continue  # the rebuild reports a malformed entry


class BasisError(NodeError):
    """The records an entitlement's basis names cannot be fetched or do not verify."""

    code = "bad_basis"


class _Fetcher:
    """Checked records of the federation's logs, each log's checkpoint read once."""

    def __init__(
        self,
        trust_list: TrustList,
        own: tuple[str, LogClient],
        transport: httpx.BaseTransport,
        token: str | None,
    ) -> None:
        self.trust_list = trust_list
        self.own_origin, self.own = own
        self.transport = transport
        self.token = token
        self.clients: dict[str, LogClient] = {}
        self.served: dict[str, tuple[int, TileHashReader]] = {}
        self.keys = {m.agency: [m.issuer_public_key] for m in trust_list.members}

    def client(self, origin: str) -> LogClient:
        if origin == self.own_origin:
            return self.own
        if origin not in self.clients:
            if self.trust_list.member_for_origin(origin) is None:
                raise BasisError(f"no member of the trust list keeps the log {origin!r}")
            # The audited node's mirror of that log (C2SP tlog-mirror): the auditor's
            # token is that node's, and goes to no other node.
            url = f"{self.own.base_url.rstrip('/')}/mirror/{origin}"
            self.clients[origin] = LogClient(url, token=self.token, transport=self.transport)
        return self.clients[origin]

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

    def _served(self, origin: str) -> tuple[int, TileHashReader]:
        if origin not in self.served:
            member = self.trust_list.member_for_origin(origin)
            if member is None:
                raise BasisError(f"no member of the trust list keeps the log {origin!r}")
            client = self.client(origin)
            cp = open_checkpoint(client.checkpoint(), member.log_verifier).checkpoint
            reader = TileHashReader(ServedTiles(client, cp.size))
            if tree_hash(cp.size, reader) != cp.root:
                raise BasisError(f"{origin}: the served tiles do not lead to the signed root")
            self.served[origin] = (cp.size, reader)
        return self.served[origin]

    def records(self, log: dict[str, Any]) -> list[SourcedRecord]:
        """The records of one basis log, each checked (see the module docstring)."""
        origin, size, indexes = log["origin"], log["size"], log["indexes"]
        root = base64.b64decode(log["root"])
        served, reader = self._served(origin)
        if size > served:
            raise BasisError(f"{origin} serves {served} entries; the basis names size {size}")
        if tree_hash(size, reader) != root:
            raise BasisError(
                f"{origin}: the basis checkpoint (size {size}) is not a prefix of the signed log"
            )
        client = self.client(origin)
        by_tile: dict[int, list[int]] = defaultdict(list)
        for i in indexes:
            by_tile[i // TILE_WIDTH].append(i)
        out = []
        for n, wanted in sorted(by_tile.items()):
            count = min(TILE_WIDTH, served - n * TILE_WIDTH)
            entries = decode_entry_bundle(
                client.entry_bundle(n, None if count == TILE_WIDTH else count)
            )
            for i in wanted:
                entry = entries[i - n * TILE_WIDTH]
                verify_inclusion(i, size, hash_leaf(entry), inclusion_proof(i, size, reader), root)
                record = json.loads(entry)
                keys = self.keys.get(record["issuer"])
                if not keys:
                    raise BasisError(f"{origin} entry {i}: its issuer is not a member")
                verify_record(record, keys[0])
                if record["type"] == "agreement":
                    verify_agreement(record, self.keys)
                out.append(
                    SourcedRecord(record, ProvenRef(origin, i, record["issuer"], record["id"]))
                )
        return out


def recheck(
    found: Entitlements,
    trust_list: TrustList,
    own: tuple[str, LogClient],
    transport: httpx.BaseTransport,
    fail: Fail,
    *,
    token: str | None = None,
) -> int:
    """Decide every entitlement of ``found`` again; report each that differs or whose
    basis does not hold. Returns how many were recomputed."""
    fetcher = _Fetcher(trust_list, own, transport, token)
    done = 0
    try:
        for index, record in found.found:
            where = {"index": index, "issuer": record["issuer"], "id": record["id"]}
            basis = record["body"]["basis"]
            try:
                sourced = [s for log in basis["logs"] for s in fetcher.records(log)]
                got = sort_inputs(sourced)
                claim = Claim(record["pwid"], dt.date.fromisoformat(basis["at"]), basis["branch"])
                decision = decide(claim, got.records, got.rules, got.agreements)
            except (PelError, ValueError, KeyError, IndexError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                fail(
                    "bad_basis",
                    f"entitlement {record['issuer']}/{record['id']} (entry {index}): its basis "
                    f"cannot be checked: {message}",
                    {"entitlement": where, "basis": basis},
                )
                continue
            done += 1
            state = record["issuer"][:2]
            diff = differences(record["body"], decision, state)
            if diff:
                fields = (
                    ", ".join(
                        f"{k} recorded {v['recorded']!r}, recomputed {v['recomputed']!r}"
                        for k, v in diff.items()
                        if k != "decision"
                    )
                    or "the decision's figures differ"
                )
                mine = [s.to_obj() for s in decision.states if s.state == state]
                fail(
                    "entitlement_mismatch",
                    f"entitlement {record['issuer']}/{record['id']} (entry {index}) differs "
                    f"from the decision made again from its basis: {fields}",
                    {"entitlement": where, "differences": diff, "recomputed": mine},
                )
    finally:
        fetcher.close()
    return done
