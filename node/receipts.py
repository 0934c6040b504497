"""What a submitter gets back for a batch: where each record landed and, when asked to
wait, the signed checkpoint that covers them and an inclusion proof per record.

``submit_and_wait`` is the submit path's last step (append, then optionally wait for the
sequencer and build the proofs); ``encode_receipt`` is the one JSON encoding of its
answer, for ``POST /v1/records`` with and without ``wait``.
"""

from __future__ import annotations

import json
from binascii import b2a_base64
from dataclasses import dataclass

from pel.ledger.records.entries import Appended
from pel.node.agency_node import Node

RECEIPT_TIMEOUT = 30.0  # seconds a waiting submitter waits for a checkpoint at most


@dataclass(frozen=True)
class Receipt:
    """A batch's outcome.

    Attributes:
        appended: Each record's index, leaf hash, id and whether it was already there.
        waited: The submitter asked to wait for a checkpoint.
        integrated: The records are in ``checkpoint`` (False when waiting timed out or
            the node runs no sequencer; meaningless when not ``waited``).
        tree_size: The size of ``checkpoint``.
        checkpoint: The signed checkpoint note (with its cosignatures) the proofs lead to.
        proofs: One RFC 9162 inclusion proof per record, in ``appended`` order.
    """

    appended: list[Appended]
    waited: bool = False
    integrated: bool = False
    tree_size: int | None = None
    checkpoint: str | None = None
    proofs: list[list[bytes]] | None = None


def submit_and_wait(
    node: Node, raw: bytes, *, wait: bool, timeout: float = RECEIPT_TIMEOUT
) -> Receipt:
    """Append a JSON batch (all or nothing) and, with ``wait``, wait until a checkpoint
    covers it and prove each record's inclusion in that checkpoint.

    Blocks (the commit, then up to ``timeout`` seconds for the sequencer): call it from
    a worker thread.

    Raises:
        Whatever :meth:`Node.submit_json` raises for a refused batch.
    """
    appended = node.submit_json(raw)
    if not wait:
        return Receipt(appended)
    needed = max(a.index for a in appended) + 1
    sequencer = node.sequencer
    if sequencer is None or not sequencer.wait_for(needed, timeout):
        return Receipt(appended, waited=True)
    latest = node.log.latest()
    assert latest is not None  # the sequencer published a checkpoint of at least `needed`
    size = latest.checkpoint.size
    proofs = [node.log.inclusion_proof(a.index, size) for a in appended]
    return Receipt(appended, True, True, size, latest.note.decode(), proofs)


def _b64(raw: bytes) -> str:
    return b2a_base64(raw, newline=False).decode()


def encode_receipt(receipt: Receipt) -> bytes:
    """The receipt as JSON: ``{"records": [{"index", "leaf_hash", "id", "duplicate"
    [, "inclusion_proof"]}, …][, "integrated"[, "tree_size", "checkpoint"]]}``.

    Written directly rather than through a JSON encoder: a node answers thousands of
    these a second, and building dictionaries for an encoder cost more than the rest of
    the answer. Strings are escaped as ``json.dumps(ensure_ascii=False)`` escapes them.
    """
    quote = json.encoder.encode_basestring
    proofs = receipt.proofs if receipt.integrated else None
    parts = []
    for i, a in enumerate(receipt.appended):
        part = (
            f'{{"index":{a.index},"leaf_hash":"{_b64(a.leaf_hash)}",'
            f'"id":{quote(a.record_id)},"duplicate":{"true" if a.duplicate else "false"}'
        )
        if proofs is not None:
            part += ',"inclusion_proof":[' + ",".join(f'"{_b64(h)}"' for h in proofs[i]) + "]"
        parts.append(part + "}")
    out = '{"records":[' + ",".join(parts) + "]"
    if receipt.waited and not receipt.integrated:
        out += ',"integrated":false'
    elif receipt.integrated:
        assert receipt.checkpoint is not None
        out += f',"integrated":true,"tree_size":{receipt.tree_size},'
        out += f'"checkpoint":{quote(receipt.checkpoint)}'
    return (out + "}").encode()
