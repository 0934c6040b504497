"""The log keeps its index in each integration: every checkpoint commits the root of the
index as an extension line that the existing checkpoint parser reads, every PWID's list
is proven at every checkpoint size (absence too), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from pel.ledger.errors import NotFoundError, RootMismatchError
from pel.ledger.index import (
    EMPTY,
    IndexProof,
    MemoryIndex,
    parse_extension,
    verify_index_proof,
)
from pel.ledger.tlog.checkpoint import Checkpoint, open_checkpoint
from pel.node.agency_node import Node
from tests import factories as f


def pw(name: str) -> str:
    """A valid PWID made from a short name (Crockford base32 has no I, L, O, U)."""
    digits = "".join("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[ord(c) % 32] for c in name)
    return "MM-" + digits.rjust(16, "0")[-16:]


def submit(node: Node, names: list[str]) -> list[int]:
    return [a.index for a in node.submit([f.contribution(pwid=pw(n)) for n in names])]


def test_each_checkpoint_commits_the_index_and_lists_are_proven(
    node_and_token: tuple[Node, str],
) -> None:
    node, _ = node_and_token
    log = node.log
    expected: dict[str, list[int]] = {}
    sizes = []
    for batch in (["PWA", "PWB", "PWA"], ["PWC"], ["PWB", "PWB", "PWD", "PWA"]):
        for pwid, idx in zip(batch, submit(node, batch), strict=True):
            expected.setdefault(pwid, []).append(idx)
        cp = log.integrate()
        assert cp is not None
        sizes.append(cp.checkpoint.size)
        # The existing strict parser reads the body with its extension line.
        body = cp.checkpoint.body()
        assert Checkpoint.parse(body) == cp.checkpoint
        assert body.count(b"\n") == 4 and b"\npel-index/v1 " in body
        assert open_checkpoint(cp.note, log.log_key).checkpoint == cp.checkpoint
    for size in sizes:
        root = log.index_root(size)
        committed = Checkpoint.parse(_body(log.checkpoint_note(size)))
        assert root == parse_extension(committed.extensions)
        for pwid in ["PWA", "PWB", "PWC", "PWD", "PW-none"]:
            proof = log.index_proof(pw(pwid), size)
            assert list(proof.indexes) == [i for i in expected.get(pwid, []) if i < size]
            verify_index_proof(IndexProof.from_json(proof.to_json()), pw(pwid), root)
    # A list cut short does not verify against the committed root.
    proof = log.index_proof(pw("PWA"), sizes[-1])
    short = IndexProof(proof.size, proof.indexes[:-1], proof.siblings, proof.other)
    with pytest.raises(RootMismatchError):
        verify_index_proof(short, pw("PWA"), log.index_root(sizes[-1]))


def test_absence_in_a_log_with_records_and_no_checkpoint_at_a_size(
    node_and_token: tuple[Node, str],
) -> None:
    node, _ = node_and_token
    submit(node, [f"PW{n}" for n in range(40)])
    cp = node.log.integrate()
    assert cp is not None
    proof = node.log.index_proof(pw("NOBODY"), cp.checkpoint.size)
    assert proof.indexes == ()
    verify_index_proof(proof, pw("NOBODY"), node.log.index_root(cp.checkpoint.size))
    assert node.log.index_root(cp.checkpoint.size) != EMPTY
    with pytest.raises(NotFoundError):
        node.log.index_proof(pw("PW1"), cp.checkpoint.size - 1)


def test_index_survives_a_restart_and_a_log_without_index_keeps_plain_checkpoints(
    sqlite_node: tuple[Node, str],
) -> None:
    node, _ = sqlite_node
    submit(node, ["PWX", "PWY"])
    node.log.integrate()
    node.log._index_cache.clear()  # a restarted integrator reads the stored nodes
    node.log._index_cache_size = -1
    submit(node, ["PWX"])
    cp = node.log.integrate()
    assert cp is not None
    proof = node.log.index_proof(pw("PWX"), 3)
    assert proof.indexes == (0, 2)
    verify_index_proof(proof, pw("PWX"), node.log.index_root(3))

    node.log.index = False
    submit(node, ["PWZ"])
    plain = node.log.integrate()
    assert plain is not None and plain.checkpoint.extensions == ()
    with pytest.raises(NotFoundError) as caught:
        node.log.index_proof(pw("PWX"), 4)
    assert caught.value.code == "no_index"
    # Switched on again: indexed anew from the first entry, over the stale rows.
    node.log.index = True
    submit(node, ["PWY", "PWQ"])
    again = node.log.integrate()
    assert again is not None and again.checkpoint.size == 6
    for name, want in [("PWX", (0, 2)), ("PWY", (1, 4)), ("PWZ", (3,)), ("PWQ", (5,))]:
        proof = node.log.index_proof(pw(name), 6)
        assert proof.indexes == want
        verify_index_proof(proof, pw(name), node.log.index_root(6))
    rebuilt = MemoryIndex()
    for i, pwid in enumerate([pw(n) for n in ["PWX", "PWY", "PWX", "PWZ", "PWY", "PWQ"]]):
        rebuilt.add(i, pwid)
    assert rebuilt.root() == node.log.index_root(6)


def _body(note: bytes) -> bytes:
    return note[: note.index(b"\n\n") + 1]
