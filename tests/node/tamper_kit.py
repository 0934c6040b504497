"""A stopped node to tamper with, what it must answer, and the tools to change it.

``build_template`` fills a node (integrated records in several checkpoints, amendments
and revocations, records still pending) and keeps the truth: every entry, the state,
the latest checkpoint. ``answers_hold`` checks a node against that truth: every
look-up, every worker's records, every inclusion proof, and the next checkpoint.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pel.crypto.jcs import canonicalize
from pel.crypto.keys import SigningKey
from pel.crypto.record import sign_record
from pel.ledger.index import MemoryIndex, parse_extension, verify_index_proof
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.proof import verify_inclusion
from pel.ledger.storage.tilefile import HEADER_SIZE, SLOT_SIZE
from pel.node.agency_node import Node, init_node
from pel.node.config import KEY_FILES
from pel.node.demo.synth import synth_drafts
from pel.node.secret_files import read_private_key
from tests import factories as f
from tests.treehash import mth

AGENCY = "MY-PERKESO"
ORIGIN = "perkeso.gov.my/pel"


@dataclass
class Truth:
    """What the untouched node holds."""

    entries: list[bytes]
    size: int
    note: bytes

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self.entries]


def build_template(root: Path) -> tuple[Path, Truth]:
    """A stopped SQLite node: 700 records integrated in three checkpoints, amendments
    and revocations of some, then 20 records appended and not integrated."""
    directory = root / "node"
    node, _ = init_node(directory, agency=AGENCY, origin=ORIGIN)
    try:
        drafts = list(synth_drafts(AGENCY, 700, seed=22))
        for i in range(0, 700, 250):
            node.submit(drafts[i : i + 250])
            node.log.integrate()
        records = [json.loads(e) for e in node.log.entries(0, 700)]
        contributions = [r for r in records if r["type"] == "contribution"]
        fixes = [f.amendment(r) for r in contributions[:6]]
        fixes += [f.revocation(r) for r in contributions[6:10]]
        node.submit([{k: v for k, v in d.items()} for d in fixes])
        node.log.integrate()
        node.submit(list(synth_drafts(AGENCY, 20, seed=23)))
        next_index, size = node.log.state()
        assert next_index - size == 20
        truth = Truth(node.log.entries(0, next_index), size, node.log.latest().note)
        node.log.close()  # syncs the tile-node file
        with node.engine.connect() as conn:  # everything in the database file itself
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        node.stop()
    return directory, truth


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
