"""An in-memory tree holding every perfect-subtree hash: for tests and small verifiers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pel.ledger.errors import ProofError
from pel.ledger.merkle.hashing import hash_children
from pel.ledger.merkle.proof import consistency_proof, inclusion_proof, tree_hash


class DictHashReader:
    """A :class:`~ledger.merkle.proof.HashReader` that keeps every stored hash in a dict."""

    def __init__(self) -> None:
        self._hashes: dict[tuple[int, int], bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        n, level, h = self._size, 0, leaf_hash
        self._hashes[(0, n)] = h
        while n & 1:
            h = hash_children(self._hashes[(level, n - 1)], h)
            n >>= 1
            level += 1
            self._hashes[(level, n)] = h
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for h in leaf_hashes:
            self.append(h)

    def read_hashes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        try:
            return [self._hashes[c] for c in coords]
        except KeyError as exc:
            raise ProofError(f"hash {exc.args[0]} is not stored") from None

    def root(self, size: int | None = None) -> bytes:
        return tree_hash(self._size if size is None else size, self)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self._size if size is None else size, self)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        return consistency_proof(first, self._size if second is None else second, self)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH of the given leaf hashes."""
    tree = DictHashReader()
    tree.extend(leaf_hashes)
    return tree.root()
