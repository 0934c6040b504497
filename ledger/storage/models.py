"""The tables of one log: entries, tiles, checkpoints, the log's state, write tokens.

Sizes matter here (a large receiving state files ~3 million records a month), so
the schema stores each thing once:

* ``entries``: the canonical JSON of each record, with the few columns needed to
  find it (record id, pwid PWID, type). Leaf hashes live in level-0 tiles.
* ``tiles``: C2SP tlog-tiles exactly as served: 256 concatenated 32-byte hashes
  per full tile, and the current partial tile of each level (a partial tile of a
  smaller width is a prefix of it, so older checkpoints' partial tiles are served
  from it).
* ``tile_nodes``: the inner nodes of each full tile (its Merkle heights 1 to 7,
  254 hashes, about 32 bytes per entry), written when the tile completes, so that
  an inclusion proof reads one row per tile instead of rehashing the tile. A full
  tile without its row (logs written before the table existed) is rehashed. On
  SQLite, level-0 tiles' nodes go to the tile-node file instead
  (:mod:`ledger.storage.tilefile`), which proofs map rather than read.
* ``checkpoints``: every signed checkpoint the log published, by tree size.
* ``index_nodes``: the nodes of the log's verifiable index (:mod:`ledger.index`), each
  under the tree size of the checkpoint that first committed it; a node as of size N
  is the row of its path with the largest version ≤ N, so every checkpoint's index
  stays provable. Only changed nodes are written at each checkpoint.
* ``log_state``: one row: ``next_index`` (entries sequenced) and ``tree_size``
  (entries integrated and covered by the latest checkpoint). Updating this row is
  the log's write lock on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
)
from sqlmodel import Field, SQLModel

# SQLite only makes "INTEGER PRIMARY KEY" an alias of the rowid (no second index);
# PostgreSQL needs BIGINT for logs past 2**31 entries.
_Index = BigInteger().with_variant(Integer(), "sqlite")


class EntryRow(SQLModel, table=True):
    """One log entry: a signed record as RFC 8785 canonical JSON."""

    __tablename__ = "entries"

    idx: int = Field(sa_column=Column(_Index, primary_key=True, autoincrement=False))
    record_id: str = Field(sa_column=Column(String(128), nullable=False, unique=True))
    pwid: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    type: str = Field(sa_column=Column(String(16), nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class TileRow(SQLModel, table=True):
    """A Merkle tile (level, index): concatenated hashes of tree level 8·level."""

    __tablename__ = "tiles"

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class TileNodesRow(SQLModel, table=True):
    """The inner nodes of full tile (level, index): its heights 1 to 7, packed."""

    __tablename__ = "tile_nodes"

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CheckpointRow(SQLModel, table=True):
    """A checkpoint the log signed and published."""

    __tablename__ = "checkpoints"

    size: int = Field(sa_column=Column(_Index, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    published_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class IndexNodeRow(SQLModel, table=True):
    """A node of the verifiable index: ``path`` is the depth (uint16, big-endian) then the
    prefix bits, left-aligned in whole bytes; ``key``/``value`` are set for a leaf."""

    __tablename__ = "index_nodes"
    # Found by its key alone: on SQLite one B-tree, not a rowid table and an index.
    __table_args__ = {"sqlite_with_rowid": False}

    path: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    version: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    value: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class LogStateRow(SQLModel, table=True):
    """The single row holding the log's counters."""

    __tablename__ = "log_state"

    id: int = Field(default=1, primary_key=True)
    next_index: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    tree_size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class TokenRow(SQLModel, table=True):
    """A bearer token the node issued, stored only as its SHA-256 hash, with its role
    (writer, reader, admin, auditor), when it was revoked, if it was, and the MAC that
    binds them."""

    __tablename__ = "tokens"

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    agency: str = Field(sa_column=Column(String(32), nullable=False))
    label: str = Field(default="", sa_column=Column(String(64), nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    role: str = Field(
        default="admin", sa_column=Column(String(16), nullable=False, server_default="admin")
    )
    revoked_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # HMAC-SHA256 of the other fields under the node's token key, kept outside the
    # database (node/access/tokens.py): a row changed without the key grants nothing.
    mac: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class AccessRow(SQLModel, table=True):
    """One read of personal data: who read which records, when (never in the public log).

    A read of one worker's records names the ``pwid``; a read of a run of a log's
    entries (an entry bundle) names the log and the index range ``[first, end)``,
    and the workers concerned are found by their records' indexes when listed.
    """

    __tablename__ = "access_log"
    __table_args__ = (Index("access_log_range", "origin", "first"),)

    id: int | None = Field(default=None, sa_column=Column(_Index, primary_key=True))
    at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    who: str = Field(sa_column=Column(String(160), nullable=False))
    path: str = Field(sa_column=Column(String(512), nullable=False))
    pwid: str | None = Field(default=None, sa_column=Column(String(32), nullable=True, index=True))
    origin: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    first: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    end: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    records: str = Field(default="", sa_column=Column(String, nullable=False, server_default=""))


class WitnessStateRow(SQLModel, table=True):
    """The latest checkpoint this node cosigned, per witnessed log (C2SP tlog-witness)."""

    __tablename__ = "witness_state"

    origin: str = Field(sa_column=Column(String(200), primary_key=True))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class EvidenceRow(SQLModel, table=True):
    """Two signed checkpoints of one log that cannot both be true, with the failing proof."""

    __tablename__ = "evidence"

    id: int | None = Field(default=None, primary_key=True)
    origin: str = Field(sa_column=Column(String(200), nullable=False, index=True))
    proven: bool = Field(sa_column=Column(Boolean, nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    found_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class IndexEvidenceRow(SQLModel, table=True):
    """Evidence that a mirrored log committed a wrong index (``pel-index-evidence/v1``),
    or, when not ``proven``, the signed checkpoint whose index root the mirror's rebuilt
    index did not reproduce."""

    __tablename__ = "index_evidence"

    id: int | None = Field(default=None, primary_key=True)
    origin: str = Field(sa_column=Column(String(200), nullable=False, index=True))
    proven: bool = Field(sa_column=Column(Boolean, nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    found_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class CosignatureRow(SQLModel, table=True):
    """A witness's cosignature/v1 line on one of this log's checkpoints."""

    __tablename__ = "cosignatures"

    size: int = Field(sa_column=Column(_Index, primary_key=True, autoincrement=False))
    witness: str = Field(sa_column=Column(String(200), primary_key=True))
    line: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class MirrorStateRow(SQLModel, table=True):
    """This node's verified copy of another member's log (C2SP tlog-mirror), per origin.

    ``size``/``root``/``note``: the *mirror checkpoint*, the latest signed checkpoint
    whose every entry is stored and verified (served under ``/mirror/<origin>/``).
    ``pending``: the latest signed checkpoint accepted as consistent with it, whose
    entries are being fetched; ``next_index`` entries are stored, each one checked
    against ``pending``. Entries past ``size`` are not served until ``size`` reaches them.
    """

    __tablename__ = "mirror_state"

    origin: str = Field(sa_column=Column(String(200), primary_key=True))
    agency: str = Field(sa_column=Column(String(32), nullable=False))
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    next_index: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    pending: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    verified_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class MirrorEntryRow(SQLModel, table=True):
    """One entry of a mirrored log, findable by record id and by the worker's PWID."""

    __tablename__ = "mirror_entries"

    origin: str = Field(sa_column=Column(String(200), primary_key=True))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    record_id: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    pwid: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    type: str = Field(sa_column=Column(String(16), nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class MirrorTileRow(SQLModel, table=True):
    """A Merkle tile of a mirrored log, stored as served (like ``tiles``)."""

    __tablename__ = "mirror_tiles"

    origin: str = Field(sa_column=Column(String(200), primary_key=True))
    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class MirrorWitnessedRow(SQLModel, table=True):
    """The newest mirror checkpoint of a mirrored log that carried the trust list's witness
    quorum of valid cosignatures: what workers' bundles prove mirrored records against
    while a newer mirror checkpoint still waits for its cosignatures."""

    __tablename__ = "mirror_witnessed"

    origin: str = Field(sa_column=Column(String(200), primary_key=True))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    note: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
