"""A node's law records: reading its rules and agreements, and publishing them.

``law_view`` reads the rules, agreement and withdrawal records of a node's own log
(those a checkpoint covers); ``rules_draft`` and ``publish`` make and submit the
records ``pel rules publish`` and ``pel agreement publish`` send.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pel.crypto.jcs import canonicalize
from pel.ledger.portability.published import LawView
from pel.ledger.portability.rules import check_table
from pel.node.agency_node import Node
from pel.node.peers.client import LogClient, RemoteError


def law_view(node: Node) -> LawView:
    """The law records of ``node``'s log that a checkpoint covers, in log order.

    Law records carry no worker, so they are the entries stored under the empty PWID
    (an indexed column: no scan of the log).
    """
    size = node.log.tree_size()
    return LawView.of((i, json.loads(e)) for i, e in node.log.pwid_entries("") if i < size)


def rules_draft(body: Mapping[str, Any]) -> dict[str, Any]:
    """A ``rules`` record draft for a table (checked first): the node adds the issuer,
    the time and its signature. The id is ``rules-XX-`` and the start of the SHA-256 of
    the table's canonical JSON, so publishing the same table twice is one record."""
    check_table(body)
    digest = hashlib.sha256(canonicalize(body)).hexdigest()[:16]
    return {"type": "rules", "id": f"rules-{body['state']}-{digest}", "body": dict(body)}


def publish(url: str, token: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Submit one law record and wait until a checkpoint covers it.

    Returns:
        The receipt: ``index``, ``id``, ``duplicate``, and the checkpoint's ``tree_size``.

    Raises:
        RemoteError: the node refused it (the record's own code, e.g.
            ``missing_party_signature``, ``foreign_state``, ``bad_rules``).
        PeerError: the node cannot be reached.
    """
    with LogClient(url, token=token) as client:
        try:
            answer = client.submit([dict(record)], wait=True)
        except RemoteError as exc:
            first = (exc.body.get("records") or [None])[0]
            if isinstance(first, dict) and "code" in first:
                field = f" (field {first['field']})" if first.get("field") else ""
                raise RemoteError(
                    exc.status,
                    {"error": {"code": first["code"], "message": first["message"] + field}},
                ) from None
            raise
    receipt = dict(answer["records"][0])
    receipt["tree_size"] = answer.get("tree_size")
    receipt["integrated"] = answer.get("integrated", False)
    return receipt


__all__ = ["law_view", "publish", "rules_draft"]
