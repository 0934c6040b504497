"""A verifiable index held in memory: what a verifier rebuilds from a log's entries to
check the roots the log committed, and what tests use in place of stored nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pel.ledger.index.hashing import EMPTY, key_of
from pel.ledger.index.proof import IndexProof
from pel.ledger.index.tree import Node, Path, prove, update


class MemoryIndex:
    """The latest index over the entries added so far.

    Add entries in log order with :meth:`add`; :meth:`root` folds the pending ones in
    (one batched update) and returns the root as of :attr:`size` entries.
    """

    def __init__(self) -> None:
        self.nodes: dict[Path, Node] = {}
        self.lists: dict[str, list[int]] = {}
        self.size = 0
        self._root = EMPTY
        self._pending: dict[bytes, list[int]] = {}

    def read_nodes(self, paths: Sequence[Path]) -> Mapping[Path, Node]:
        return {p: self.nodes[p] for p in paths if p in self.nodes}

    def add(self, index: int, pwid: str) -> None:
        """Add entry ``index`` (the next one) of ``pwid``.

        Raises:
            ValueError: ``index`` is not the next entry.
        """
        if index != self.size:
            raise ValueError(f"entry {index} added to an index of {self.size} entries")
        self.lists.setdefault(pwid, []).append(index)
        self._pending.setdefault(key_of(pwid), []).append(index)
        self.size += 1

    def root(self) -> bytes:
        """The index root over every entry added."""
        if self._pending:
            result = update(self, self._pending)
            self.nodes.update(result.nodes)
            self._root, self._pending = result.root, {}
        return self._root

    def proof(self, pwid: str) -> IndexProof:
        """``pwid``'s list with its proof against :meth:`root`."""
        self.root()
        return IndexProof.from_lookup(
            self.size, self.lists.get(pwid, []), prove(self, key_of(pwid))
        )
