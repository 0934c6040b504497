"""The mirror's follower against a peer served by ``httpx.MockTransport``: bounded steps,
resumption, a peer that is down, gossip sent and received."""

from __future__ import annotations

import concurrent.futures
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from pel.crypto.cosignature import CosignatureSigner, MLDSACosignatureSigner
from pel.crypto.keys import SigningKey
from pel.crypto.mldsa import MLDSASigningKey
from pel.crypto.note import NoteSigner
from pel.ledger.federation.mirror_store import MirroredLog, MirrorStore, check_entries
from pel.ledger.federation.trust_list import Member, TrustList
from pel.ledger.merkle.tiles import TILE_WIDTH, encode_entry_bundle, parse_tile_path
from pel.ledger.storage.engine import create_schema, make_engine
from pel.ledger.tlog.checkpoint import Checkpoint, sign_checkpoint
from pel.node.peers.mirror_follower import MirrorFollower, receive_gossip
from tests.ledger.test_mirror import AGENCY, ORIGIN, Source

ME = "MY-PERKESO"


def member(agency: str, origin: str, url: str, log: NoteSigner, issuer: SigningKey) -> Member:
    witness = CosignatureSigner(origin.split("/")[0] + "/witness", SigningKey.generate())
    pq = MLDSACosignatureSigner(witness.name, MLDSASigningKey.generate())
    return Member(
        agency=agency,
        country=agency[:2],
        name=agency,
        role="both",
        origin=origin,
        url=url,
        log_key=log.vkey,
        issuer_key=issuer.public_key.to_base64(),
        witness_key=witness.vkey,
        witness_mldsa_key=pq.vkey,
    )


class Peers:
    """TH's log (``src``) at http://th.test, and gossip inboxes for every member."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.size = 0
        self.down = False
        self.gossip: dict[str, list[list[str]]] = {}
        self.requests = 0
        self.paths: list[str] = []
        self.swapped: set[int] = set()  # entry bundles served with another record in
        self.forged: set[int] = set()  # … with a record signed by another key in

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        host, path = request.url.host, request.url.path
        self.paths.append(path)
        if request.method == "POST" and path == "/v1/gossip":
            self.gossip.setdefault(host, []).append(json.loads(request.content)["checkpoints"])
            return httpx.Response(200, json={"results": []})
        if host != "th.test" or self.down:
            raise httpx.ConnectError("connection refused")
        if path == "/checkpoint":
            return httpx.Response(200, content=self.src.note(self.size))
        kind, level, index, width = parse_tile_path(path.lstrip("/"))
        start, count = index * TILE_WIDTH, width or TILE_WIDTH
        assert start + count <= (self.size >> (8 * (level or 0))), path
        if kind == "entries":
            entries = self.src.entries[start : start + count]
            if index in self.swapped:
                entries = [self.src.record(), *entries[1:]]
            if index in self.forged:
                entries = [self.src.record(key=SigningKey.generate()), *entries[1:]]
            return httpx.Response(200, content=encode_entry_bundle(entries))
        assert level is not None
        coords = [(8 * level, start + j) for j in range(count)]
        return httpx.Response(200, content=b"".join(self.src.hashes.read_hashes(coords)))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


def setup(engine: Engine, entries: int) -> tuple[Source, Peers, TrustList, MirrorFollower]:
    src = Source()
    src.grow(entries)
    peers = Peers(src)
    peers.size = entries
    me = NoteSigner("perkeso.gov.my/pel", SigningKey.generate())
    sg = NoteSigner("cpf.gov.sg/pel", SigningKey.generate())
    tl = TrustList(
        federation="test",
        version=1,
        members=(
            member(AGENCY, ORIGIN, "http://th.test", src.signer, src.issuer),
            member(ME, me.name, "http://my.test", me, SigningKey.generate()),
            member("SG-CPF", sg.name, "http://sg.test", sg, SigningKey.generate()),
        ),
        witness_quorum=1,
        threshold=3,
    )
    follower = MirrorFollower(
        MirrorStore(engine),
        lambda: tl,
        ME,
        bundles=2,
        gossip_interval=10.0,
        transport=httpx.MockTransport(peers.handle),
    )
    return src, peers, tl, follower


def test_catch_up_goes_in_bounded_steps_and_resumes(engine: Engine) -> None:
    src, peers, tl, follower = setup(engine, 1100)
    assert follower.follow_once() == 512  # two bundles per step
    st = follower.store.state(ORIGIN)
    assert st is not None and (st.size, st.next_index, st.pending_size) == (0, 512, 1100)
    assert follower.status[ORIGIN].seen_size == 1100
    # A restart: a new follower goes on from what is stored.
    again = MirrorFollower(
        MirrorStore(engine), lambda: tl, ME, bundles=2, transport=httpx.MockTransport(peers.handle)
    )
    assert again.follow_once() == 512
    assert again.follow_once() == 76
    assert again.store.checkpoint(ORIGIN) == src.note()
    assert again.follow_once() == 0  # caught up
    # The log grows by less than a bundle: the copy follows from the middle of a tile.
    src.grow(10)
    peers.size = 1110
    assert again.follow_once() == 10 and again.store.state(ORIGIN).size == 1110  # type: ignore[union-attr]
    assert again.status[ORIGIN].error == ""


def test_the_next_bundles_are_fetched_while_a_step_is_checked(engine: Engine) -> None:
    src, peers, _tl, follower = setup(engine, 1100)
    peers.swapped = {2}  # the bundles fetched ahead for the second step hold a wrong record
    try:
        assert follower.follow_once() == 512
        # The second step takes the bundles fetched ahead: the wrong record is refused.
        assert follower.follow_once() == 0
        assert "do not hash to the tree" in follower.status[ORIGIN].error
        # What was fetched ahead of a step that did not go through is not used: the
        # third step fetches bundles 2 and 3 again, now served right.
        peers.swapped = set()
        assert follower.follow_once() == 512
        assert follower.follow_once() == 76
        assert follower.store.checkpoint(ORIGIN) == src.note()
        bundles = [p.removeprefix("/tile/entries/") for p in peers.paths if "entries" in p]
        # Steps 1 and 3 fetch their own bundles, steps 2 and 4 take those fetched ahead;
        # the 004 fetched ahead after the refused step (for a step that never came) is
        # not used.
        assert bundles == ["000", "001", "002", "003", "004.p/76", "002", "003", "004.p/76"]
    finally:
        follower.stop()


def test_entries_fetched_ahead_are_checked_ahead(engine: Engine) -> None:
    src, peers, tl, _ = setup(engine, 1100)
    started: list[tuple[int, bool]] = []  # (first entry, started ahead by the fetch thread)

    def start(entries: Sequence[bytes], first: int, log: MirroredLog) -> Callable[[], Any]:
        started.append((first, threading.current_thread().name.startswith("pel-mirror-fetch")))
        return lambda: check_entries(entries, first, log)

    follower = MirrorFollower(
        MirrorStore(engine),
        lambda: tl,
        ME,
        bundles=2,
        transport=httpx.MockTransport(peers.handle),
        start_check=start,
    )
    peers.forged = {2}  # a record of the second step's bundles does not verify
    try:
        assert follower.follow_once() == 512  # checked in line; bundles 2 and 3 ahead
        assert follower.follow_once() == 0  # their checks, started ahead, refuse them
        assert "does not verify" in follower.status[ORIGIN].error
        # The refused step had started fetching step 4 ahead; the next step cancels that
        # fetch, which never starts if it is still queued. Let it run first, so that the
        # starts below do not depend on the threads' timing.
        queued = follower._prefetched.get(ORIGIN)
        if queued is not None:
            concurrent.futures.wait([queued[2]], timeout=10)
        peers.forged = set()
        assert follower.follow_once() == 512  # fetched and checked again, in line
        assert follower.follow_once() == 76  # checked ahead
        assert follower.store.checkpoint(ORIGIN) == src.note()
        # In line: steps 1 and 3; ahead (in either order with them): 2 and 3's bundles,
        # then 4's twice (the first time after the refused step).
        assert sorted(started) == [
            (0, False),
            (512, False),
            (512, True),
            (1024, True),
            (1024, True),
        ]
    finally:
        follower.stop()


def test_a_peer_that_is_down_shows_in_the_status_and_is_retried(engine: Engine) -> None:
    _src, peers, _tl, follower = setup(engine, 300)
    peers.down = True
    assert follower.follow_once() == 0
    assert "connection refused" in follower.status[ORIGIN].error
    assert follower.status[ORIGIN].error.endswith("[peer_unreachable]")
    assert follower.store.state(ORIGIN) is None
    peers.down = False
    assert [follower.follow_once() for _ in range(2)] == [300, 0]
    assert follower.store.state(ORIGIN).size == 300  # type: ignore[union-attr]
    assert follower.status[ORIGIN].error == ""


def test_gossip_is_pushed_to_the_other_members_at_most_every_interval(engine: Engine) -> None:
    src, peers, _tl, follower = setup(engine, 10)
    assert follower.gossip_once(now=0.0) == 0  # nothing verified yet
    follower.follow_once()
    assert follower.gossip_once(now=100.0) == 1
    # To SG only: not to TH (its own log) nor to this node.
    assert list(peers.gossip) == ["sg.test"] and peers.gossip["sg.test"] == [[src.note().decode()]]
    src.grow(5)
    peers.size = 15
    follower.follow_once()
    assert follower.gossip_once(now=105.0) == 0  # too soon
    assert follower.gossip_once(now=110.0) == 1
    assert peers.gossip["sg.test"][-1] == [src.note().decode()]
    assert follower.gossip_once(now=200.0) == 0  # nothing newer


def test_gossip_received_is_compared_with_the_mirror(engine: Engine) -> None:
    src, _peers, tl, follower = setup(engine, 40)
    follower.follow_once()
    store = follower.store
    fork = src.fork()
    fork.grow(30)
    stranger = sign_checkpoint(
        Checkpoint("x.test/log", 1, bytes(32)), NoteSigner("x.test/log", SigningKey.generate())
    )
    notes = [src.note(20), src.note(), stranger, fork.note()]
    src.grow(5)
    notes.append(src.note())
    results = receive_gossip(store, tl, ME, [n.decode() for n in notes], follower)
    assert [r["result"] for r in results] == [
        "consistent",
        "consistent",
        "unknown_log",
        "fork",
        "flagged",
    ]
    assert store.flagged() == {ORIGIN}
    assert follower.follow_once() == 0
    assert follower.status[ORIGIN].error.startswith("flagged")
    with pytest.raises(Exception, match="at most 16"):
        receive_gossip(store, tl, ME, [notes[0].decode()] * 17)


def test_a_larger_gossiped_checkpoint_is_checked_once_the_mirror_reaches_it(engine: Engine) -> None:
    src, peers, tl, follower = setup(engine, 40)
    follower.follow_once()
    fork = src.fork()
    for e in src.entries:
        fork.add(e)
    fork.grow(10)  # size 50, another history than src's size 50
    src.grow(10)
    [result] = receive_gossip(follower.store, tl, ME, [fork.note().decode()], follower)
    assert result["result"] == "ahead"
    assert follower.store.flagged() == set()
    peers.size = 50
    follower.follow_once()  # the mirror reaches 50 and compares what it was told
    assert follower.store.flagged() == {ORIGIN}
