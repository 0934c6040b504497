"""A stopped node to tamper with, what it must answer, and the tools to change it.

``build_template`` fills a node of a federation of three (integrated records in several
cosigned checkpoints, amendments and revocations, records still pending; the witness's
state of two other logs, a mirror of one, evidence of a fork of the other; tokens) and
keeps the truth. ``answers_hold`` checks a node against that truth: every look-up,
every worker's records, every inclusion and index proof, the cosigned checkpoint, the
witness's state, the mirror, the tokens, and the next checkpoint.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pel.crypto.jcs import canonicalize
from pel.crypto.keys import SigningKey
from pel.crypto.note import NoteSignature, NoteSigner, parse_signature_line
from pel.crypto.record import sign_record
from pel.ledger.errors import WitnessError
from pel.ledger.federation.index_evidence import record_index_evidence
from pel.ledger.federation.mirror_store import MirroredLog
from pel.ledger.federation.trust_list import Member, SignedTrustList, TrustList
from pel.ledger.index import MemoryIndex, parse_extension, verify_index_proof
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import verify_inclusion
from pel.ledger.storage.tilefile import HEADER_SIZE, SLOT_SIZE
from pel.ledger.tlog.checkpoint import Checkpoint, sign_checkpoint
from pel.node.access.tokens import create_token, revoke_token, token_hash, token_info
from pel.node.agency_node import Node, init_node
from pel.node.config import KEY_FILES
from pel.node.demo.synth import synth_drafts
from pel.node.errors import AuthError
from pel.node.trust.chain import apply_version
from pel.node.trust.secret_files import read_private_key
from tests import factories as f
from tests.treehash import mth

AGENCY = "MY-PERKESO"
ORIGIN = "perkeso.gov.my/pel"
TH, TH_ORIGIN = "TH-SSO", "sso.go.th/pel"
SG, SG_ORIGIN = "SG-CPF", "cpf.gov.sg/pel"


@dataclass
class Truth:
    """What the untouched node holds."""

    entries: list[bytes]
    size: int
    note: bytes
    cosigned: bytes = b""  # the latest checkpoint as served, with its cosignatures
    witnessed: dict[str, bytes] = field(default_factory=dict)  # its witness's state
    mirror: bytes = b""  # its mirror checkpoint of TH's log
    mirror_entries: list[bytes] = field(default_factory=list)
    tokens: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # label → token, role
    notes: dict[str, bytes] = field(default_factory=dict)  # other signed checkpoints, by name

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self.entries]


def _federation(root: Path) -> dict[str, Node]:
    """The node (MY-PERKESO) in ``root/node`` and two members in ``root/peers``, every
    one holding version 1 of their trust list (witness quorum 2)."""
    dirs = {AGENCY: root / "node", TH: root / "peers" / "th", SG: root / "peers" / "sg"}
    origins = {AGENCY: ORIGIN, TH: TH_ORIGIN, SG: SG_ORIGIN}
    made = {a: init_node(d, agency=a, origin=origins[a])[0] for a, d in dirs.items()}
    members = tuple(
        Member(
            agency=a,
            country=a[:2],
            name=a,
            role="both",
            origin=origins[a],
            url=f"http://{a.lower()}.test",
            log_key=n.log_signer.vkey,
            issuer_key=n.issuer_public_key.to_base64(),
            witness_key=n.witness.signer.vkey,
            witness_mldsa_key=n.witness.pq_signer.vkey,
        )
        for a, n in made.items()
    )
    signed = SignedTrustList(
        TrustList(federation="t", version=1, members=members, witness_quorum=2, threshold=3)
    )
    for n in made.values():
        signed = signed.sign(n.agency, n.issuer_key)
        n.stop()
    for d in dirs.values():
        apply_version(d, signed)
    return {a: Node.open(d) for a, d in dirs.items()}


def cosign(witness: Node, log: Node, old: int = 0) -> list[NoteSignature]:
    """``witness``'s cosignatures of ``log``'s latest checkpoint, asked from ``old``."""
    latest = log.log.latest()
    assert latest is not None
    size = latest.checkpoint.size
    proof = log.log.consistency_proof(old, size) if 0 < old < size else []
    body = f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    lines = witness.add_checkpoint((body + "\n").encode() + latest.note, now=int(time.time()))
    return [parse_signature_line(x) for x in lines.decode().splitlines()]


def _publish(log: Node, witnesses: list[Node], held: dict[tuple[str, str], int]) -> int:
    """Integrate ``log`` and have each witness cosign the checkpoint."""
    checkpoint = log.log.integrate()
    assert checkpoint is not None
    size = checkpoint.checkpoint.size
    for w in witnesses:
        old = held.get((w.agency, log.agency), 0)
        log.log.add_cosignatures(size, cosign(w, log, old))
        held[(w.agency, log.agency)] = size
    return size


def build_template(root: Path) -> tuple[Path, Truth]:
    """A stopped SQLite node in a federation of three: 700 records integrated in three
    checkpoints, amendments and revocations of some, then 20 records appended and not
    integrated; each checkpoint cosigned by the other two. Its witness cosigned TH's
    log at sizes 200 and 300 and SG's at 10, and proved a fork of SG's (evidence); it
    mirrors TH's log at 300 (witnessed); it holds a writer token and a revoked one."""
    nodes = _federation(root)
    node, th, sg = nodes[AGENCY], nodes[TH], nodes[SG]
    held: dict[tuple[str, str], int] = {}
    try:
        drafts = list(synth_drafts(AGENCY, 700, seed=22))
        for i in range(0, 700, 250):
            node.submit(drafts[i : i + 250])
            _publish(node, [th, sg], held)
        records = [json.loads(e) for e in node.log.entries(0, 700)]
        contributions = [r for r in records if r["type"] == "contribution"]
        fixes = [f.amendment(r) for r in contributions[:6]]
        fixes += [f.revocation(r) for r in contributions[6:10]]
        node.submit([{k: v for k, v in d.items()} for d in fixes])
        _publish(node, [th, sg], held)
        theirs = list(synth_drafts(TH, 300, seed=24))
        for batch in (theirs[:200], theirs[200:]):
            th.submit(batch)
            _publish(th, [node, sg], held)
        tl = node.trust_list
        assert tl is not None
        member = tl.member(TH)
        assert member is not None
        mirrored = MirroredLog.of(member, tl)
        node.mirrors.update_checkpoint(mirrored, th.log.cosigned_note(300), th.log.hashes)
        node.mirrors.add_entries(mirrored, 0, th.log.entries(0, 300), th.log.hashes)
        assert node.mirrors.witnessed(TH_ORIGIN) is not None
        sg.submit(list(synth_drafts(SG, 10, seed=25)))
        _publish(sg, [node], held)
        _fork_of(sg, node)
        record_index_evidence(node.engine, TH_ORIGIN, th.log.checkpoint_note(200), proven=False)
        tokens = {"writer desk": create_token(node.tokens, AGENCY, "writer desk", role="writer")}
        tokens["old reader"] = create_token(node.tokens, AGENCY, "old reader", role="reader")
        revoke_token(node.tokens, token_hash(tokens["old reader"])[:12])
        node.submit(list(synth_drafts(AGENCY, 20, seed=23)))
        next_index, size = node.log.state()
        assert next_index - size == 20
        truth = Truth(
            node.log.entries(0, next_index),
            size,
            node.log.latest().note,
            cosigned=node.log.cosigned_note(size),
            witnessed={o: node.witness.latest(o)[2] for o in (TH_ORIGIN, SG_ORIGIN)},
            mirror=node.mirrors.checkpoint(TH_ORIGIN),
            mirror_entries=th.log.entries(0, 300),
            tokens={
                "writer desk": (tokens["writer desk"], "writer"),
                "old reader": (tokens["old reader"], None),
            },
            notes={"TH@200": th.log.checkpoint_note(200), "TH fork@400": _forged(th, 400)},
        )
        node.log.close()  # syncs the tile-node file
        with node.engine.connect() as conn:  # everything in the database file itself
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        for n in nodes.values():
            n.stop()
    return root / "node", truth


def _forged(log: Node, size: int) -> bytes:
    """A checkpoint of ``log`` at ``size`` over no real tree, signed by its key."""
    signer = NoteSigner(log.settings.origin, read_private_key(log.directory / KEY_FILES["log"]))
    return sign_checkpoint(Checkpoint(log.settings.origin, size, bytes(range(32))), signer)


def _fork_of(log: Node, witness: Node) -> None:
    """Show ``witness`` a checkpoint of ``log`` at the size it cosigned with another root,
    signed by the log's key: it records the fork as evidence."""
    latest = log.log.latest()
    assert latest is not None
    cp = latest.checkpoint
    forked = Checkpoint(cp.origin, cp.size, bytes(32), cp.extensions)
    signer = NoteSigner(cp.origin, read_private_key(log.directory / KEY_FILES["log"]))
    body = f"old {cp.size}\n\n".encode() + sign_checkpoint(forked, signer)
    try:
        witness.add_checkpoint(body, now=int(time.time()))
    except WitnessError as exc:
        assert exc.code == "conflicting_root"
    assert witness.witness.flagged(cp.origin)


def copy_node(template: Path, to: Path) -> Path:
    """A copy of the node directory whose settings name the copied database."""
    shutil.copytree(template, to)
    settings = json.loads((to / "node.json").read_text())
    settings["database_url"] = f"sqlite:///{(to / 'pel.db').resolve()}"
    (to / "node.json").write_text(json.dumps(settings))
    return to


def db_path(directory: Path) -> Path:
    return directory / "pel.db"


def tile_file(directory: Path) -> Path:
    found = [p for p in directory.iterdir() if p.name.startswith("pel.db") and "tile" in p.name]
    assert len(found) == 1, found
    return found[0]


def sql(directory: Path, *statements: str, params: tuple[Any, ...] = ()) -> None:
    """Run statements on the stopped node's database, as anyone with the file could."""
    db = sqlite3.connect(db_path(directory))
    try:
        for statement in statements:
            assert isinstance(statement, str), "give parameters as params="
            db.execute(statement, params if "?" in statement else ())
        db.commit()
    finally:
        db.close()


def query(directory: Path, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    db = sqlite3.connect(db_path(directory))
    try:
        return db.execute(statement, params).fetchall()
    finally:
        db.close()


def flip_file(path: Path, offset: int, mask: int = 0x01) -> None:
    with open(path, "r+b") as raw:
        raw.seek(offset)
        byte = raw.read(1)[0]
        raw.seek(offset)
        raw.write(bytes([byte ^ mask]))


def page_size(path: Path) -> int:
    head = path.read_bytes()[:100]
    size = int.from_bytes(head[16:18], "big")
    return 65536 if size == 1 else size


def page_type(data: bytes, offset: int, size: int) -> int:
    """The b-tree page type of the page holding ``offset`` (0x0d table leaf, 0x0a index
    leaf, 0x05 and 0x02 interior)."""
    page = offset // size
    return data[page * size + (100 if page == 0 else 0)]


def occurrences(path: Path, needle: bytes, types: tuple[int, ...] | None = None) -> list[int]:
    """Offsets of ``needle`` in the file, in pages of ``types`` when given."""
    data = path.read_bytes()
    size = page_size(path)
    out, at = [], data.find(needle)
    while at >= 0:
        if types is None or page_type(data, at, size) in types:
            out.append(at)
        at = data.find(needle, at + 1)
    return out


def flip_slot(directory: Path, index: int, pos: int) -> None:
    flip_file(tile_file(directory), HEADER_SIZE + index * SLOT_SIZE + pos)


def issuer_key(directory: Path) -> SigningKey:
    return read_private_key(directory / KEY_FILES["issuer"])


def signed_entry(directory: Path, record: dict[str, Any], key: SigningKey | None = None) -> bytes:
    """A record signed with the node's issuer key (or ``key``), as a log entry."""
    return canonicalize(sign_record(record, key or issuer_key(directory)))


def append_row(directory: Path, entry: bytes, *, raise_next: bool = True, **columns: str) -> None:
    """Insert ``entry`` as the next pending row (its columns from it unless given)."""
    record = json.loads(entry)
    (next_index,) = query(directory, "SELECT next_index FROM log_state")[0]
    sql(
        directory,
        "INSERT INTO entries (idx, record_id, pwid, type, data) VALUES (?, ?, ?, ?, ?)",
        params=(
            next_index,
            columns.get("record_id", record.get("id", "x")),
            columns.get("pwid", record.get("pwid", "x")),
            columns.get("type", record.get("type", "x")),
            entry,
        ),
    )
    if raise_next:
        sql(directory, "UPDATE log_state SET next_index = next_index + 1")


REPAIRED = "repaired"
CASES: dict[str, tuple[str, Callable[[Path, Truth], None]]] = {}
"""Every change of the campaign: its name, and the code it must be refused with (or
``REPAIRED``)."""


def case(name: str, expect: str) -> Callable[[Callable[[Path, Truth], None]], None]:
    """Register a change of the campaign under ``name``."""

    def register(fn: Callable[[Path, Truth], None]) -> None:
        assert name not in CASES
        CASES[name] = (expect, fn)

    return register


def answers_hold(node: Node, truth: Truth) -> None:
    """Assert that the node answers exactly what the untouched node held, and that the
    next checkpoint covers exactly the true entries."""
    log = node.log
    assert log.state() == (len(truth.entries), truth.size)
    latest = log.latest()
    assert latest is not None and latest.note == truth.note
    assert log.cosigned_note(truth.size) == truth.cosigned
    for origin, note in truth.witnessed.items():
        state = node.witness.latest(origin)
        assert state is not None and state[2] == note, origin
    assert node.mirrors.checkpoint(TH_ORIGIN) == truth.mirror
    assert node.mirrors.entries(TH_ORIGIN, 0, len(truth.mirror_entries)) == truth.mirror_entries
    for label, (token, role) in truth.tokens.items():
        if role is None:
            try:
                token_info(node.tokens, token)
                raise AssertionError(f"the revoked token {label!r} is taken")
            except AuthError:
                pass
        else:
            assert token_info(node.tokens, token).role == role, label
    root = latest.checkpoint.root
    by_pwid: dict[str, list[tuple[int, bytes]]] = {}
    for idx, (entry, record) in enumerate(zip(truth.entries, truth.records, strict=True)):
        assert log.entry(idx) == entry
        assert log.find(record["id"]) == (idx, entry)
        by_pwid.setdefault(record["pwid"], []).append((idx, entry))
        if idx < truth.size:
            proof = log.inclusion_proof(idx, truth.size)
            verify_inclusion(idx, truth.size, hash_leaf(entry), proof, root)
    for pwid, rows in by_pwid.items():
        assert log.pwid_entries(pwid) == rows
    index_root = parse_extension(latest.checkpoint.extensions)
    assert index_root is not None
    for pwid in by_pwid:
        verify_index_proof(log.index_proof(pwid, truth.size), pwid, index_root)
    checkpoint = log.integrate()
    assert checkpoint is not None
    assert checkpoint.checkpoint.root == mth(truth.entries)
    index = MemoryIndex()
    for idx, record in enumerate(truth.records):
        index.add(idx, record.get("pwid", ""))
    assert parse_extension(checkpoint.checkpoint.extensions) == index.root()


Tamper = Callable[[Path, Truth], None]
