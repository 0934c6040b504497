"""What the node does with its tables beside the log when they were changed and the
start-up check has not run (or cannot see the change): a changed token row grants
nothing, a changed cosignature of an older checkpoint is not served, a witness state
rolled back behind the running node's back is not gone by; and what ``pel check
--repair`` deletes (rows whose truth is gone: a token row without its MAC, a
cosignature or evidence that does not verify)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from pel.crypto.note import parse_note
from pel.ledger.errors import WitnessError
from pel.node.access.tokens import token_hash, token_info
from pel.node.agency_node import Node
from pel.node.errors import AuthError
from tests.node import tamper_tables  # noqa: F401  (registers the cases)
from tests.node.tamper_kit import (
    CASES,
    TH_ORIGIN,
    Truth,
    copy_node,
    query,
    sql,
)


@pytest.fixture
def node(template: tuple[Path, Truth], tmp_path: Path) -> Node:
    directory = copy_node(template[0], tmp_path / "n")
    opened = Node.open(directory)
    opened.check()
    yield opened
    opened.stop()


def test_a_changed_token_row_grants_nothing_while_the_node_runs(
    node: Node, template: tuple[Path, Truth]
) -> None:
    truth = template[1]
    writer, _ = truth.tokens["writer desk"]
    assert token_info(node.tokens, writer).role == "writer"
    sql(
        node.directory,
        "UPDATE tokens SET role = 'admin' WHERE token_hash = ?",
        params=(token_hash(writer),),
    )
    with pytest.raises(AuthError):
        token_info(node.tokens, writer)
    mine = "pel_mine"
    sql(
        node.directory,
        "UPDATE tokens SET token_hash = ? WHERE label = 'init'",
        params=(token_hash(mine),),
    )
    with pytest.raises(AuthError):
        token_info(node.tokens, mine)


def test_a_changed_cosignature_of_an_older_checkpoint_is_not_served(
    node: Node, template: tuple[Path, Truth]
) -> None:
    """Only the latest checkpoint's lines are verified at start-up (the others would
    cost a signature each): an older one is verified when served, and ``pel check
    --signatures`` verifies them all."""
    before = node.log.cosigned_note(500)
    assert len(parse_note(before).signatures) == 5
    witness, line = query(
        node.directory, "SELECT witness, line FROM cosignatures WHERE size = 500 ORDER BY witness"
    )[0]
    sql(
        node.directory,
        "UPDATE cosignatures SET line = ? WHERE size = 500 AND witness = ?",
        params=(bytes(line).replace(b" ", b" A", 1)[:-3] + b"AA\n", witness),
    )
    served = parse_note(node.log.cosigned_note(500)).signatures
    assert len(served) == 4 and all(f"{s.name}+{s.key_id.hex()}" != witness for s in served)
    node.check()  # the latest checkpoint's lines are untouched
    with pytest.raises(Exception) as caught:
        node.check(signatures=True)
    assert getattr(caught.value, "code", None) == "cosignature_invalid"
    report = node.check(signatures=True, repair=True)
    assert report.repaired == ["1 cosignature lines that do not verify deleted"]


def test_a_witness_state_rolled_back_under_a_running_node_is_not_gone_by(
    node: Node, template: tuple[Path, Truth]
) -> None:
    """The copy outside the database rules: a log that asks from the rolled-back size is
    told the size the witness did cosign (409), as before the change."""
    truth = template[1]
    old = parse_note(truth.notes["TH@200"])
    body = old.text.split(b"\n")
    size, root = int(body[1]), base64.b64decode(body[2])
    sql(
        node.directory,
        "UPDATE witness_state SET size = ?, root = ?, note = ? WHERE origin = ?",
        params=(size, root, truth.notes["TH@200"], TH_ORIGIN),
    )
    assert node.witness.latest(TH_ORIGIN)[0] == 300
    with pytest.raises(WitnessError) as caught:
        node.add_checkpoint(b"old 200\n\n" + truth.mirror, now=int(time.time()))
    assert (caught.value.code, caught.value.http_status) == ("old_size_mismatch", 409)
    sql(
        node.directory,
        "UPDATE witness_state SET note = ? WHERE origin = ?",
        params=(truth.witnessed["cpf.gov.sg/pel"], TH_ORIGIN),
    )
    with pytest.raises(WitnessError) as caught:
        node.witness.latest(TH_ORIGIN)
    assert (caught.value.code, caught.value.http_status) == ("witness_state_mismatch", 503)


REPAIRABLE = sorted(
    n
    for n, (code, _) in CASES.items()
    if code in ("token_mac_mismatch", "cosignature_invalid", "evidence_invalid")
)


@pytest.mark.parametrize("name", REPAIRABLE)
def test_pel_check_repair_deletes_rows_that_do_not_verify(
    template: tuple[Path, Truth], tmp_path: Path, name: str
) -> None:
    source, truth = template
    directory = copy_node(source, tmp_path / "n")
    CASES[name][1](directory, truth)
    node = Node.open(directory)
    try:
        report = node.check(repair=True)
        assert len(report.repaired) == 1 and "deleted" in report.repaired[0], report.repaired
        assert node.check().repaired == []
    finally:
        node.stop()
