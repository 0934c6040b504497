"""Signature work off the serving process's GIL.

Ed25519 calls release the GIL, but a thread that signs a thousand records in a
row must win the GIL back after every signature while request threads hold it,
so in a busy server it crawls. Big batches are therefore signed and verified in
worker processes, one per core (one round trip per batch: bytes in, bytes out).
A submitted JSON batch goes to a worker whole: parsing, validation and canonical
JSON cost about as much Python as the signatures cost in C, so the worker does
all of it (``node.prepare``), and the serving process keeps HTTP and the
database. Small batches, and processes that never start the pool, do the work
in line, and so does every batch while the worker processes are still starting (a
worker takes about a second to load its modules; the first big batch starts them all
rather than waiting for one).

``parallel_map`` splits CPU work that releases the GIL over threads, for callers
that are not competing with request threads (``pel verify``, bulk loads).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import TypeVar

from pel.crypto.keys import PublicKey, SigningKey
from pel.ledger.errors import MirrorError
from pel.ledger.federation.mirror_entry_check import (
    MirroredLog,
    RecordMeta,
    check_entries,
    check_records_of,
)
from pel.ledger.records.entries import PreparedRecord
from pel.node.serving.prepare_batch import BatchRules, Outcome, outcome_result, prepare_json

T = TypeVar("T")
R = TypeVar("R")

WORKERS = max(1, os.cpu_count() or 1)
# A record of a batch is a few hundred bytes of JSON: bodies smaller than about
# ``min_batch`` records are prepared in line.
_BYTES_PER_RECORD = 256
_threads = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="pel-crypto")


def parallel_map(fn: Callable[[T], R], items: Sequence[T], *, min_chunk: int = 64) -> list[R]:
    """``[fn(x) for x in items]``, split over the cores when the batch is big enough."""
    n = len(items)
    if WORKERS == 1 or n < 2 * min_chunk:
        return [fn(x) for x in items]
    size = -(-n // WORKERS)
    chunks = [items[i : i + size] for i in range(0, n, size)]
    futures = [_threads.submit(lambda c=c: [fn(x) for x in c]) for c in chunks[1:]]
    out = [fn(x) for x in chunks[0]]
    for f in futures:
        out.extend(f.result())
    return out


def submit_crypto(fn: Callable[..., R], *args: object) -> Future[R]:
    """Run ``fn(*args)`` on the crypto threads without waiting: for callers with Python
    work to do meanwhile."""
    return _threads.submit(fn, *args)


# ---- the worker process -------------------------------------------------------------

_worker_key: SigningKey | None = None


def _init_worker(pem: bytes) -> None:
    global _worker_key
    _worker_key = SigningKey.from_pem(pem)
    # Modules and schemas live as long as the worker: out of the collector's sight,
    # so the collections that parsing a batch triggers stay short.
    gc.freeze()


def _sign_in_worker(messages: list[bytes]) -> list[bytes]:
    assert _worker_key is not None
    sign = _worker_key.sign
    return [sign(m) for m in messages]


def _verify_in_worker(raw_keys: list[bytes], work: list[tuple[bytes, bytes]]) -> list[bool]:
    keys = [PublicKey(k) for k in raw_keys]
    return [any(k.verify(sig, msg) for k in keys) for sig, msg in work]


def _started() -> bool:
    """A worker's first task: it runs once the worker has loaded its modules."""
    return True


def _prepare_in_worker(raw: bytes, rules: BatchRules, raw_keys: list[bytes]) -> Outcome:
    return prepare_json(raw, rules, _sign_in_worker, lambda work: _verify_in_worker(raw_keys, work))


class SignaturePool:
    """Signs with one key and verifies record signatures, in a worker process for big batches.

    The worker gets the key once, at start, over its private pipe; it is never
    logged or written anywhere.
    """

    def __init__(
        self, key: SigningKey, *, min_batch: int = 128, min_mirror_batch: int = 4096
    ) -> None:
        self._key = key
        self._min_batch = min_batch
        # Another member's entries go to the workers only by the full mirror step (16
        # bundles): a worker costs about a second of CPU to start, which a node that
        # only ever checks a few thousand records (ten nodes of the demo on two cores)
        # would pay for nothing.
        self._min_mirror_batch = min_mirror_batch
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()  # the pool's workers have started
        self._starting: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._pool is None:
                # "spawn": the serving process has threads, which fork would copy unsafely.
                self._pool = ProcessPoolExecutor(
                    max_workers=WORKERS,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(self._key.to_pem(),),
                )

    def stop(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            self._ready.clear()
            self._starting = None

    def warm(self, timeout: float | None = None) -> bool:
        """Start the worker processes now (when the pool runs) and wait up to ``timeout``
        seconds for them; whether they are up."""
        self._start_workers()
        return self._ready.wait(timeout)

    def _workers(self) -> ProcessPoolExecutor | None:
        """The pool once its workers have started, else None: the first call starts them
        in the background, and the work asked for meanwhile is done in line."""
        if self._ready.is_set():
            return self._pool
        self._start_workers()
        return None

    def _start_workers(self) -> None:
        with self._lock:
            pool = self._pool
            if pool is None or self._starting is not None:
                return
            self._starting = threading.Thread(
                target=self._wait_started, args=(pool,), name="pel-workers-start", daemon=True
            )
            self._starting.start()

    def _wait_started(self, pool: ProcessPoolExecutor) -> None:
        # One task per worker: each finds no idle worker, so each starts one.
        try:
            for started in [pool.submit(_started) for _ in range(WORKERS)]:
                started.result()
        except Exception:  # the pool was stopped meanwhile: the next start tries again
            return
        with self._lock:
            if self._pool is pool:
                self._ready.set()

    def use_key(self, key: SigningKey) -> None:
        """Sign with ``key`` from now on (a rotated issuer key); workers restart with it."""
        running = self._pool is not None
        self.stop()
        self._key = key
        if running:
            self.start()

    def sign(self, messages: list[bytes]) -> list[bytes]:
        pool = self._workers() if len(messages) >= self._min_batch else None
        if pool is None:
            return [self._key.sign(m) for m in messages]
        return pool.submit(_sign_in_worker, messages).result()

    def prepare_json(
        self, raw: bytes, rules: BatchRules, keys: Sequence[PublicKey]
    ) -> list[PreparedRecord]:
        """A submitted JSON batch parsed, validated, signed (drafts) or checked (signed
        records) and encoded: :func:`node.prepare.prepare_json`, in a worker when the
        pool runs and the body is big enough, the serving process keeping only HTTP
        and the database.

        Raises:
            RecordError, BatchError: as :func:`node.prepare.prepare_batch`.
        """
        pool = self._workers() if len(raw) >= self._min_batch * _BYTES_PER_RECORD else None
        if pool is None:
            outcome = prepare_json(raw, rules, self.sign, lambda work: self.verify(keys, work))
        else:
            outcome = pool.submit(_prepare_in_worker, raw, rules, [k.raw for k in keys]).result()
        return outcome_result(outcome)

    def start_check_mirrored(
        self, entries: Sequence[bytes], first: int, log: MirroredLog
    ) -> Callable[[], list[RecordMeta]]:
        """Start :func:`ledger.mirror.check_entries` of another member's entries, split over
        the workers, and return at once: calling the result waits for the checks and gives
        the records' columns, or raises ``MirrorError`` for the first bad entry in log
        order. In line (done on that call) when the pool does not run or the entries are
        fewer than a full mirror step."""
        pool = self._workers() if len(entries) >= self._min_mirror_batch else None
        if pool is None:
            return lambda: check_entries(entries, first, log)
        size = -(-len(entries) // WORKERS)
        who = (log.origin, log.agency, log.issuer_key.raw, log.party_keys, log.retired)
        futures = [
            pool.submit(check_records_of, list(entries[i : i + size]), first + i, *who)
            for i in range(0, len(entries), size)
        ]

        def wait() -> list[RecordMeta]:
            out: list[RecordMeta] = []
            for future in futures:  # in log order: the first problem is the first bad entry
                got = future.result()
                if isinstance(got, tuple):
                    for later in futures:
                        later.cancel()
                    raise MirrorError(got[1], code=got[0])
                out.extend(got)
            return out

        return wait

    def verify(self, keys: Sequence[PublicKey], work: list[tuple[bytes, bytes]]) -> list[bool]:
        """For each ``(signature, message)``: does one of ``keys`` sign it?"""
        pool = self._workers() if len(work) >= self._min_batch else None
        if pool is None:
            return [any(k.verify(s, m) for k in keys) for s, m in work]
        return pool.submit(_verify_in_worker, [k.raw for k in keys], work).result()
