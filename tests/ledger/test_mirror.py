"""The mirror's verified store: catch-up in steps, resumption, and everything it refuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from pel.crypto.cosignature import CosignatureSigner
from pel.crypto.jcs import canonicalize
from pel.crypto.keys import SigningKey
from pel.crypto.note import NoteSigner, add_signatures, parse_note
from pel.crypto.record import sign_record
from pel.ledger.errors import MirrorError
from pel.ledger.federation.evidence import verify_fork
from pel.ledger.federation.mirror_store import ENTRIES, TILES, MirroredLog, MirrorStore
from pel.ledger.federation.quorum import QuorumRule
from pel.ledger.federation.witness import Witness, flagged_origins
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.memory import DictHashReader
from pel.ledger.merkle.proof import verify_inclusion
from pel.ledger.merkle.tiles import decode_entry_bundle
from pel.ledger.storage.engine import create_schema, make_engine
from pel.ledger.tlog.checkpoint import Checkpoint, sign_checkpoint
from tests import factories as f

ORIGIN = "sso.go.th/pel"
AGENCY = "TH-SSO"


class Source:
    """A log of ``AGENCY`` held in memory: its entries, hashes and signed checkpoints."""

    def __init__(self, issuer: SigningKey | None = None, signer: NoteSigner | None = None):
        self.issuer = issuer or SigningKey.generate()
        self.signer = signer or NoteSigner(ORIGIN, SigningKey.generate())
        self.entries: list[bytes] = []
        self.hashes = DictHashReader()

    def record(self, issuer: str = AGENCY, key: SigningKey | None = None, **over: object) -> bytes:
        draft = {**f.contribution(body={"currency": "THB"}, **over), "issuer": issuer}
        return canonicalize(sign_record(draft, key or self.issuer))

    def grow(self, n: int) -> None:
        for _ in range(n):
            self.add(self.record())

    def add(self, entry: bytes) -> None:
        self.entries.append(entry)
        self.hashes.append(hash_leaf(entry))

    def note(self, size: int | None = None) -> bytes:
        size = len(self.entries) if size is None else size
        return sign_checkpoint(Checkpoint(ORIGIN, size, self.hashes.root(size)), self.signer)

    def log(self) -> MirroredLog:
        return MirroredLog(ORIGIN, AGENCY, self.signer.verifier, self.issuer.public_key)

    def fork(self) -> Source:
        """Another history under the same origin and keys."""
        return Source(self.issuer, self.signer)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    create_schema(engine)
    yield engine
    engine.dispose()


def stored(store: MirrorStore) -> tuple[object, int, int]:
    with store.engine.connect() as conn:
        entries = conn.execute(select(func.count()).select_from(ENTRIES)).scalar()
        tiles = conn.execute(select(func.count()).select_from(TILES)).scalar()
    return store.state(ORIGIN), int(entries or 0), int(tiles or 0)


def mirror(store: MirrorStore, src: Source, step: int = 10_000) -> None:
    assert store.update_checkpoint(src.log(), src.note(), src.hashes) == "pending"
    for first in range(store.state(ORIGIN).next_index, len(src.entries), step):  # type: ignore[union-attr]
        store.add_entries(src.log(), first, src.entries[first : first + step], src.hashes)
    assert store.state(ORIGIN).size == len(src.entries)  # type: ignore[union-attr]


def mirrored(engine: Engine, size: int) -> tuple[Source, MirrorStore]:
    """A log of ``size`` entries, and a store holding its verified copy."""
    src = Source()
    src.grow(size)
    store = MirrorStore(engine)
    mirror(store, src)
    return src, store


def test_catch_up_in_steps_then_follow_growth(engine: Engine) -> None:
    src = Source()
    src.grow(600)
    store = MirrorStore(engine)
    assert store.update_checkpoint(src.log(), src.note(), src.hashes) == "pending"
    assert store.add_entries(src.log(), 0, src.entries[:300], src.hashes) == 300
    st = store.state(ORIGIN)
    assert st is not None and (st.size, st.next_index, st.pending_size) == (0, 300, 600)
    with pytest.raises(Exception, match="no verified copy"):
        store.checkpoint(ORIGIN)  # nothing is served before a checkpoint is reached
    assert store.add_entries(src.log(), 300, src.entries[300:], src.hashes) == 600
    assert store.checkpoint(ORIGIN) == src.note()
    assert store.tile(ORIGIN, 0, 1) == b"".join(
        src.hashes.read_hashes([(0, i) for i in range(256, 512)])
    )
    assert decode_entry_bundle(store.entry_bundle(ORIGIN, 2, 88)) == src.entries[512:600]
    assert store.root(ORIGIN, 600) == src.hashes.root(600)
    assert store.root(ORIGIN, 77) == src.hashes.root(77)
    mine = store.records_of(f.PWID)
    assert [(o, i) for o, i, _ in mine] == [(ORIGIN, i) for i in range(600)]
    proof = store.inclusion_proof(ORIGIN, 421, 600)
    assert store.checkpoint(ORIGIN) == src.note()
    verify_inclusion(421, 600, hash_leaf(src.entries[421]), proof, src.hashes.root(600))
    # The log grows: the next checkpoint must contain the verified one.
    src.grow(100)
    mirror(store, src, step=37)
    assert store.state(ORIGIN).size == 700  # type: ignore[union-attr]
    assert store.consistency_proof(ORIGIN, 600, 700) == src.hashes.consistency_proof(600, 700)
    # The same checkpoint again is no news; an older one is consistent.
    assert store.update_checkpoint(src.log(), src.note(), src.hashes) == "same"
    assert store.update_checkpoint(src.log(), src.note(300), src.hashes) == "stale"
    assert store.compare(src.log(), src.note(450)) == "consistent"
    src.grow(1)
    assert store.compare(src.log(), src.note()) == "ahead"


def test_resume_from_the_middle_after_a_restart(db_url: str) -> None:
    src = Source()
    src.grow(300)
    first = make_engine(db_url)
    create_schema(first)
    store = MirrorStore(first)
    store.update_checkpoint(src.log(), src.note(), src.hashes)
    store.add_entries(src.log(), 0, src.entries[:130], src.hashes)
    first.dispose()
    again = make_engine(db_url)  # a new process: only the database is left
    store = MirrorStore(again)
    st = store.state(ORIGIN)
    assert st is not None and st.next_index == 130 and st.size == 0
    with pytest.raises(MirrorError) as exc:  # not where the copy stands
        store.add_entries(src.log(), 0, src.entries[:10], src.hashes)
    assert exc.value.code == "out_of_order"
    assert store.add_entries(src.log(), 130, src.entries[130:], src.hashes) == 300
    assert store.checkpoint(ORIGIN) == src.note()
    assert store.root(ORIGIN, 300) == src.hashes.root(300)
    again.dispose()


def refused(store: MirrorStore, code: str, call: object, *args: object) -> None:
    before = stored(store)
    with pytest.raises(MirrorError) as exc:
        call(*args)  # type: ignore[operator]
    assert exc.value.code == code, exc.value.message
    assert stored(store) == before


@pytest.mark.parametrize(
    "kind", ["tampered", "other_key", "other_issuer", "not_canonical", "long_subject"]
)
def test_bad_entries_are_refused_and_nothing_is_stored(engine: Engine, kind: str) -> None:
    src, store = mirrored(engine, 40)
    log = src.log()
    entry, code = {
        "tampered": (src.record().replace(b'"2450.00"', b'"9450.00"'), "bad_signature"),
        "other_key": (src.record(key=SigningKey.generate()), "bad_signature"),
        "other_issuer": (src.record(issuer="MY-PERKESO"), "foreign_issuer"),
        "not_canonical": (src.record().replace(b"{", b"{ ", 1), "bad_record"),
        "long_subject": (src.record(pwid="MM-" + "7" * 40), "bad_record"),
    }[kind]
    # The log signs a checkpoint over the bad entry: only the record check stops it.
    bad = src.fork()
    for e in src.entries:
        bad.add(e)
    bad.grow(5)
    bad.add(entry)
    assert store.update_checkpoint(log, bad.note(), bad.hashes) == "pending"
    refused(store, code, store.add_entries, log, 40, bad.entries[40:], bad.hashes)
    # Entries that are not the ones the signed checkpoint commits to.
    wrong = [src.record() for _ in range(6)]
    refused(store, "root_mismatch", store.add_entries, log, 40, wrong, bad.hashes)
    refused(store, "root_mismatch", store.add_entries, log, 40, wrong[:3], bad.hashes)
    refused(store, "out_of_order", store.add_entries, log, 41, wrong[1:], bad.hashes)
    refused(store, "out_of_order", store.add_entries, log, 40, wrong * 2, bad.hashes)
    assert store.state(ORIGIN).size == 40  # type: ignore[union-attr]
    assert store.add_entries(log, 40, bad.entries[40:45], bad.hashes) == 45


def test_a_checkpoint_not_signed_by_the_log_is_refused(engine: Engine) -> None:
    src = Source()
    src.grow(20)
    store = MirrorStore(engine)
    other = Source(signer=NoteSigner(ORIGIN, SigningKey.generate()))
    other.grow(20)
    refused(store, "bad_checkpoint", store.update_checkpoint, src.log(), other.note(), other.hashes)
    mirror(store, src)
    refused(store, "bad_checkpoint", store.compare, src.log(), other.note())


def test_inconsistent_checkpoints_are_forks_with_evidence(engine: Engine) -> None:
    src, store = mirrored(engine, 300)
    # The same origin and key, another history that grows past the mirrored size.
    fork = src.fork()
    fork.grow(400)
    refused(store, "fork", store.update_checkpoint, src.log(), fork.note(), fork.hashes)
    assert flagged_origins(engine) == {ORIGIN}
    assert store.flagged() == {ORIGIN}
    refused(store, "log_flagged", store.update_checkpoint, src.log(), src.note(), src.hashes)
    refused(store, "log_flagged", store.add_entries, src.log(), 300, [src.record()], src.hashes)
    assert store.compare(src.log(), fork.note(100)) == "flagged"


@pytest.mark.parametrize("size", [300, 120, 128])
def test_gossip_of_a_fork_at_or_below_the_mirrored_size(engine: Engine, size: int) -> None:
    src, store = mirrored(engine, 300)
    fork = src.fork()
    fork.grow(size)
    before = stored(store)
    with pytest.raises(MirrorError) as exc:
        store.compare(src.log(), fork.note())
    assert exc.value.code == "fork"
    assert stored(store) == before
    # The witness keeps its evidence in the same table: it shows the fork, and proves it.
    witness = Witness(engine, None, {})  # type: ignore[arg-type]
    [(proven, evidence)] = witness.evidence()
    how = verify_fork(evidence, src.signer.verifier)
    assert proven and ("two different roots" if size == 300 else "holds another root") in how
    assert witness.flagged(ORIGIN)


def test_tiles_that_do_not_lead_to_the_root_prove_nothing(engine: Engine) -> None:
    src, store = mirrored(engine, 50)
    src.grow(50)
    liar = Source()
    liar.grow(100)  # tiles of another tree: the proof they give leads elsewhere
    refused(store, "bad_tiles", store.update_checkpoint, src.log(), src.note(), liar.hashes)
    assert store.flagged() == set()
    assert store.update_checkpoint(src.log(), src.note(), src.hashes) == "pending"


def test_the_newest_witnessed_mirror_checkpoint_is_kept(engine: Engine) -> None:
    src = Source()
    witnesses = [CosignatureSigner(f"w{i}.test/witness", SigningKey.generate()) for i in range(3)]
    log = MirroredLog(
        ORIGIN,
        AGENCY,
        src.signer.verifier,
        src.issuer.public_key,
        QuorumRule.simple(
            {f"W{i}": w.verifier for i, w in enumerate(witnesses)}, 2, policy="either"
        ),
    )

    def cosigned(by: int) -> bytes:
        note = src.note()
        return add_signatures(note, [w.cosign(parse_note(note).text) for w in witnesses[:by]])

    store = MirrorStore(engine)
    src.grow(40)
    one = cosigned(1)  # short of the quorum
    assert store.update_checkpoint(log, one, src.hashes) == "pending"
    store.add_entries(log, 0, src.entries, src.hashes)
    assert store.checkpoint(ORIGIN) == one and store.witnessed(ORIGIN) is None
    two = cosigned(2)  # the same checkpoint, now with the quorum (as gossip brings it)
    assert store.compare(log, two) == "cosigned"
    assert store.witnessed(ORIGIN) == two
    # The mirror moves on to a checkpoint not yet cosigned: the witnessed one stays, and
    # proofs at its size still come from the copy's tiles.
    src.grow(300)
    assert store.update_checkpoint(log, src.note(), src.hashes) == "pending"
    store.add_entries(log, 40, src.entries[40:], src.hashes)
    assert store.state(ORIGIN).size == 340  # type: ignore[union-attr]
    assert store.witnessed(ORIGIN) == two
    path = store.inclusion_proof(ORIGIN, 17, 40)
    verify_inclusion(17, 40, hash_leaf(src.entries[17]), path, src.hashes.root(40))
    with pytest.raises(Exception, match="not in the mirror"):
        store.inclusion_proof(ORIGIN, 40, 40)
    with pytest.raises(Exception, match="not in the mirror"):
        store.inclusion_proof(ORIGIN, 3, 341)
    # Once that one is cosigned (on arrival, here) it replaces the older one.
    src.grow(10)
    three = cosigned(3)
    assert store.update_checkpoint(log, three, src.hashes) == "pending"
    store.add_entries(log, 340, src.entries[340:], src.hashes)
    assert store.witnessed(ORIGIN) == three
