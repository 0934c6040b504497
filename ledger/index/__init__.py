"""The verifiable index of a log: a sparse Merkle tree from hashed PWIDs to the ordered
list of that worker's log indexes, committed at every checkpoint (see
``docs/completeness.md``). Pure: no database, clock or network."""

from pel.ledger.index.hashing import (
    EMPTY,
    INDEX_EXTENSION,
    KEY_BITS,
    extension_line,
    hash_leaf,
    hash_node,
    key_of,
    parse_extension,
    value_hash,
)
from pel.ledger.index.memory import MemoryIndex
from pel.ledger.index.proof import (
    IndexProof,
    root_from_index_proof,
    verify_index_proof,
)
from pel.ledger.index.tree import Node, NodeReader, Path, Update, prove, update

__all__ = [
    "EMPTY",
    "INDEX_EXTENSION",
    "KEY_BITS",
    "IndexProof",
    "MemoryIndex",
    "Node",
    "NodeReader",
    "Path",
    "Update",
    "extension_line",
    "hash_leaf",
    "hash_node",
    "key_of",
    "parse_extension",
    "prove",
    "root_from_index_proof",
    "update",
    "value_hash",
    "verify_index_proof",
]
