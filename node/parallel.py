"""Signature work on every core.

Ed25519 signing and verification in ``cryptography`` release the GIL, so a batch
split over a small thread pool runs on all cores while the rest of the node stays
in one process. Used for signing drafts, checking submitted records and verifying
fetched logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS = max(1, os.cpu_count() or 1)
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="pel-crypto")


def parallel_map(fn: Callable[[T], R], items: Sequence[T], *, min_chunk: int = 64) -> list[R]:
    """``[fn(x) for x in items]``, split over the cores when the batch is big enough."""
    n = len(items)
    if WORKERS == 1 or n < 2 * min_chunk:
        return [fn(x) for x in items]
    size = -(-n // WORKERS)
    chunks = [items[i : i + size] for i in range(0, n, size)]
    futures = [_pool.submit(lambda c=c: [fn(x) for x in c]) for c in chunks[1:]]
    out = [fn(x) for x in chunks[0]]
    for f in futures:
        out.extend(f.result())
    return out
