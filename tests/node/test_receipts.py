"""The one receipt encoder writes exactly what a JSON encoder would, for every shape of
answer: not waited, waited and integrated (with proofs), waited and timed out; and a
batch that no checkpoint covers in time is answered 202, not integrated."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from pel.api.app import create_app
from pel.ledger.records.entries import Appended
from pel.node.agency_node import Node
from pel.node.receipts import Receipt, encode_receipt, submit_and_wait
from tests import factories as f

hashes = st.binary(min_size=32, max_size=32)
appended = st.builds(
    Appended,
    index=st.integers(0, 2**63 - 1),
    leaf_hash=hashes,
    record_id=st.text(max_size=40),
    duplicate=st.booleans(),
)


def as_json_encoder_would(receipt: Receipt) -> bytes:
    """The same answer built as dictionaries and encoded as FastAPI's JSONResponse does."""
    records: list[dict[str, Any]] = [
        {
            "index": a.index,
            "leaf_hash": base64.b64encode(a.leaf_hash).decode(),
            "id": a.record_id,
            "duplicate": a.duplicate,
        }
        for a in receipt.appended
    ]
    out: dict[str, Any] = {"records": records}
    if receipt.integrated:
        assert receipt.proofs is not None
        for rec, proof in zip(records, receipt.proofs, strict=True):
            rec["inclusion_proof"] = [base64.b64encode(h).decode() for h in proof]
        out.update(integrated=True, tree_size=receipt.tree_size, checkpoint=receipt.checkpoint)
    elif receipt.waited:
        out["integrated"] = False
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()


@given(st.lists(appended, min_size=1, max_size=5), st.data())
def test_encode_receipt_is_the_json_encoding(batch: list[Appended], data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["plain", "integrated", "timed_out"]))
    if kind == "plain":
        receipt = Receipt(batch)
    elif kind == "timed_out":
        receipt = Receipt(batch, waited=True)
    else:
        proofs = [data.draw(st.lists(hashes, max_size=4)) for _ in batch]
        note = data.draw(st.text(max_size=200))
        size = data.draw(st.integers(1, 2**63 - 1))
        receipt = Receipt(batch, True, True, size, note, proofs)
    encoded = encode_receipt(receipt)
    assert encoded == as_json_encoder_would(receipt)
    assert json.loads(encoded)["records"][0]["index"] == batch[0].index


def test_a_node_without_a_sequencer_answers_202_not_integrated(
    sqlite_node: tuple[Node, str],
) -> None:
    node, token = sqlite_node
    raw = json.dumps([f.contribution(), f.contribution()]).encode()
    receipt = submit_and_wait(node, raw, wait=True, timeout=0.1)
    assert receipt.waited and not receipt.integrated and receipt.proofs is None
    assert [a.index for a in receipt.appended] == [0, 1]

    with TestClient(create_app(node, start=False)) as client:
        r = client.post(
            "/v1/records?wait=true",
            json=[f.contribution()],
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["integrated"] is False and body["records"][0]["index"] == 2
    assert "checkpoint" not in body and "inclusion_proof" not in body["records"][0]
