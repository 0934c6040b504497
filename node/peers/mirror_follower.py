"""Following the other members' logs: the mirror's fetching loop, gossip and status.

``MirrorFollower.follow_once`` does one bounded step for every other member's log:
fetch its checkpoint when nothing is pending, then at most ``bundles`` entry
bundles, and hand them to :class:`ledger.mirror.MirrorStore`, which verifies and
stores them. A restart resumes from what the store holds. Peers are read through
:class:`node.client.LogClient`, so a peer that is down or answers nonsense costs
that log one failed step (its ``error`` in the status), never the others.

Each time a log's copy reaches a new mirror checkpoint, the log's verifiable index is
rebuilt from the copy's entries and its root compared with the one the checkpoint
commits to (``node.peers.index_check``); a wrong root is recorded as index evidence
(``ledger.federation.index_evidence``) and shown in the log's status.

Newly verified mirror checkpoints are passed on to the other members
(``POST /v1/gossip``), best effort and bounded: one request per member and log
at most every ``gossip_interval`` seconds (the latest checkpoint then), each
with a short timeout. A receiver compares each checkpoint with its own copy and records fork
evidence; checkpoints larger than its copy are kept (a few per log) and compared
once the copy reaches them.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from pel.crypto.errors import PelError
from pel.ledger.errors import CheckpointError, MirrorError
from pel.ledger.federation.index_evidence import record_index_evidence
from pel.ledger.federation.mirror_store import (
    MirroredLog,
    MirrorState,
    MirrorStore,
    RecordMeta,
    check_entries,
)
from pel.ledger.federation.trust_list import Member, TrustList
from pel.ledger.index import MemoryIndex
from pel.ledger.merkle.tiles import TILE_WIDTH, TileHashReader, decode_entry_bundle
from pel.ledger.tlog.checkpoint import Checkpoint, open_checkpoint
from pel.node import metrics
from pel.node.peers.client import LogClient, RemoteError, ServedTiles
from pel.node.peers.index_check import check_index, pwid_of

log = logging.getLogger("pel.mirror")

StartCheck = Callable[[Sequence[bytes], int, MirroredLog], Callable[[], list[RecordMeta]]]
MemberSigner = Callable[[str, str, str, bytes], str]
"""``sign(audience, method, target, body)``: a member's signed request for ``audience``'s
node (``Node.sign_request``)."""
"""Starts the checks of a log's entries (from the given index); the result waits for them."""


def _in_line(
    entries: Sequence[bytes], first: int, log: MirroredLog
) -> Callable[[], list[RecordMeta]]:
    return lambda: check_entries(entries, first, log)


_Ahead = tuple[list[bytes], Callable[[], list[RecordMeta]], tuple[str, str, bytes]]
"""Entries fetched ahead, what waits for their checks, and the log they were checked as
(:func:`_checked_as`)."""


def _checked_as(mlog: MirroredLog) -> tuple[str, str, bytes]:
    """What the record checks of a log depend on: its origin, agency and issuer key."""
    return mlog.origin, mlog.agency, mlog.issuer_key.raw


MAX_GOSSIP_NOTES = 16
# A cosigned checkpoint carries, per witness, an ML-DSA-44 line of about 3.3 KB beside
# its Ed25519 one: 64 KiB holds a federation of well over ten members.
MAX_NOTE_BYTES = 64 << 10
_KEEP_AHEAD = 4
_INDEX_CHUNK = 4096  # mirrored entries read at a time to rebuild a log's index


def note_checkpoint(note: bytes) -> Checkpoint:
    """The checkpoint a note states (unverified: for routing and sizes only)."""
    return Checkpoint.parse(note.split(b"\n\n", 1)[0] + b"\n")


@dataclass
class MirrorStatus:
    """What the follower last saw of one log (kept in memory; the copy is in the store)."""

    agency: str
    seen_size: int | None = None
    error: str = ""
    index: str = ""


class MirrorFollower:
    """Mirrors every other member's log, in a thread, and gossips what it verified.

    Args:
        store: Where the verified copies live.
        trust_list: Returns the current trust list (it may change while running).
        agency: This node's agency (its own log is not mirrored).
        interval: Seconds between rounds once every log is caught up.
        bundles: Entry bundles fetched per log and step (the bound on a step).
        timeout: Seconds for each request to a peer.
        gossip_interval: Least seconds between two gossip pushes of one log (None: never).
        transport: An ``httpx`` transport for tests.
        sign: Signs each request as this member (its issuer key):
            ``sign(audience, method, target, body)``, the audience being the agency
            whose node is asked. Other members serve their entry bundles only to
            requests signed by a member, for their own node.
        start_check: Starts the checks of entries before they are stored and returns what
            waits for them: :func:`ledger.mirror.check_entries` in line by default, on
            every core with a node's signature pool. The entries fetched ahead for the
            next step are then checked while this step's are stored.
    """

    def __init__(
        self,
        store: MirrorStore,
        trust_list: Callable[[], TrustList | None],
        agency: str,
        *,
        interval: float = 1.0,
        bundles: int = 16,
        timeout: float = 5.0,
        gossip_interval: float | None = 5.0,
        transport: httpx.BaseTransport | None = None,
        sign: MemberSigner | None = None,
        start_check: StartCheck = _in_line,
    ) -> None:
        self.store = store
        self._sign = sign
        self._start_check = start_check
        # The next step's entries of each log, fetched (and their checks started) while
        # this step's entries are checked and stored: (first bundle, pending size it was
        # cut for, the fetch).
        self._fetcher = ThreadPoolExecutor(1, thread_name_prefix="pel-mirror-fetch")
        self._prefetched: dict[str, tuple[int, int, Future[_Ahead]]] = {}
        self.trust_list = trust_list
        self.agency = agency
        self.interval = interval
        self.bundles = bundles
        self.timeout = timeout
        self.gossip_interval = gossip_interval
        self._pushed: dict[str, tuple[int, float]] = {}
        self.status: dict[str, MirrorStatus] = {}
        self._transport = transport
        # One client per member's node, for its agency: a signed request names the node.
        self._clients: dict[tuple[str, str], LogClient] = {}
        self._ahead: dict[str, list[bytes]] = {}
        # Each log's index rebuilt from the copy, and the PWIDs added since its root
        # last matched the committed one (where a wrong root is looked for).
        self._indexes: dict[str, tuple[MemoryIndex, set[str]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def members(self) -> list[Member]:
        tl = self.trust_list()
        return [m for m in tl.members if m.agency != self.agency] if tl else []

    def _client(self, member: Member) -> LogClient:
        client = self._clients.get((member.agency, member.url))
        if client is None:
            sign = None if self._sign is None else functools.partial(self._sign, member.agency)
            client = LogClient(
                member.url, sign=sign, timeout=self.timeout, transport=self._transport
            )
            self._clients[(member.agency, member.url)] = client
        return client

    # ---- one step ----------------------------------------------------------------

    def follow_once(self) -> int:
        """One bounded step for every log; return how many entries were stored."""
        tl = self.trust_list()
        if tl is None:
            return 0
        flagged = self.store.flagged()
        stored = 0
        for member in self.members():
            st = self.status.setdefault(member.origin, MirrorStatus(member.agency))
            if member.origin in flagged:
                st.error = "flagged: the log signed two checkpoints that cannot both be true"
                continue
            try:
                stored += self._step(MirroredLog.of(member, tl), member, st)
                st.error = ""
            except PelError as exc:
                error = exc.diagnostics().removeprefix("error: ")
                if error != st.error:  # once per new failure, not every round
                    log.warning("mirror of %s: %s", member.origin, error)
                st.error = error
            except Exception as exc:  # a bug or the database: logged in full, one log fails
                st.error = f"internal error ({type(exc).__name__}); see the node's log"
                log.exception("mirror of %s failed", member.origin)
        return stored

    def _step(self, mlog: MirroredLog, member: Member, status: MirrorStatus) -> int:
        client = self._client(member)
        state = self.store.state(mlog.origin)
        if state is None or state.pending_size <= state.size:
            try:
                note = client.checkpoint()
            except RemoteError as exc:
                if exc.status == 404 and state is None:  # nothing published yet
                    status.seen_size = 0
                    return 0
                raise
            size = note_checkpoint(note).size
            remote = TileHashReader(ServedTiles(client, size))
            result = self.store.update_checkpoint(mlog, note, remote)
            status.seen_size = max(status.seen_size or 0, size)
            if result == "cosigned":
                self._check_ahead(mlog)
            state = self.store.state(mlog.origin)
        if state is None or state.pending_size <= state.next_index:
            return 0
        pending = state.pending_size
        first = state.next_index
        n = first // TILE_WIDTH
        end = min(n + self.bundles, -(-pending // TILE_WIDTH))
        check = self._check_now
        ahead = self._prefetched.pop(mlog.origin, None)
        if ahead is not None and ahead[:2] == (n, pending) and first == n * TILE_WIDTH:
            entries, wait, checked_as = ahead[2].result()
            if checked_as == _checked_as(mlog):
                # The checks started when these very entries were fetched, with the same
                # issuer key (the trust list may have changed since).
                fetched = entries

                def check(es: Sequence[bytes], at: int, lg: MirroredLog) -> list[RecordMeta]:
                    if es is fetched and at == first and lg is mlog:
                        return wait()
                    return self._check_now(es, at, lg)
        else:
            if ahead is not None:
                ahead[2].cancel()
            entries = self._fetch(client, mlog.origin, n, end, pending)[first - n * TILE_WIDTH :]
        if end * TILE_WIDTH < pending and not self._stop.is_set():
            following = min(end + self.bundles, -(-pending // TILE_WIDTH))
            fetch = self._fetcher.submit(self._fetch_ahead, client, mlog, end, following, pending)
            self._prefetched[mlog.origin] = (end, pending, fetch)
        remote = TileHashReader(ServedTiles(client, pending))
        done = self.store.add_entries(mlog, first, entries, remote, check=check)
        metrics.MIRROR_ENTRIES.labels(mlog.origin).inc(max(0, done - first))
        log.info("mirror of %s: %d of %d entries verified", mlog.origin, done, pending)
        if done == pending:
            self._check_ahead(mlog)
            self._check_index(mlog, client, status)
        return done - first

    def _check_index(self, mlog: MirroredLog, client: LogClient, status: MirrorStatus) -> None:
        """Rebuild the log's index over the copy and compare it with the root the mirror
        checkpoint commits to; record evidence of a wrong one."""
        state = self.store.state(mlog.origin)
        if state is None or state.note is None:
            return
        index, changed = self._indexes.get(mlog.origin, (MemoryIndex(), set()))
        if index.size > state.size:
            index, changed = MemoryIndex(), set()
        for start in range(index.size, state.size, _INDEX_CHUNK):
            end = min(state.size, start + _INDEX_CHUNK)
            for k, entry in enumerate(self.store.entries(mlog.origin, start, end)):
                pwid = pwid_of(entry)
                index.add(start + k, pwid)
                changed.add(pwid)
        self._indexes[mlog.origin] = (index, changed)
        signed = open_checkpoint(state.note, mlog.log_key)
        verdict = check_index(client, signed, index, changed, mlog.log_key)
        if verdict.ok or verdict.committed is None:
            status.index = "matches" if verdict.ok else "none committed"
            changed.clear()
            return
        if verdict.evidence is not None:
            status.index = f"wrong at size {state.size}: {verdict.how}"
            new = record_index_evidence(
                self.store.engine, mlog.origin, verdict.evidence.to_json().encode(), proven=True
            )
        else:
            status.index = f"wrong at size {state.size} (not located)"
            new = record_index_evidence(self.store.engine, mlog.origin, state.note, proven=False)
        if new:
            log.warning("mirror of %s: the log's index is %s", mlog.origin, status.index)

    def _fetch_ahead(
        self, client: LogClient, mlog: MirroredLog, n: int, end: int, pending: int
    ) -> _Ahead:
        """:meth:`_fetch` for the next step, with the checks of its entries started.

        It runs in the fetcher's thread on the client the step in hand also uses: an
        httpx client may be shared between threads, and :class:`node.plainhttp.PlainGetter`
        keeps one connection per thread."""
        entries = self._fetch(client, mlog.origin, n, end, pending)
        return entries, self._start_check(entries, n * TILE_WIDTH, mlog), _checked_as(mlog)

    def _check_now(
        self, entries: Sequence[bytes], first: int, log: MirroredLog
    ) -> list[RecordMeta]:
        return self._start_check(entries, first, log)()

    def _fetch(self, client: LogClient, origin: str, n: int, end: int, pending: int) -> list[bytes]:
        """The entries of bundles ``n`` ≤ bundle < ``end`` of a log whose pending size is
        ``pending``, each bundle of the width that size gives it."""
        out: list[bytes] = []
        for i in range(n, end):
            if self._stop.is_set():
                raise MirrorError(f"{origin}: the mirror is stopping", code="stopping")
            width = min(TILE_WIDTH, pending - i * TILE_WIDTH)
            bundle = decode_entry_bundle(
                client.entry_bundle(i, None if width == TILE_WIDTH else width)
            )
            if len(bundle) != width:
                raise MirrorError(
                    f"{origin}: entry bundle {i} holds {len(bundle)} entries, not {width}",
                    code="bad_bundle",
                )
            out.extend(bundle)
        return out

    # ---- gossip ------------------------------------------------------------------

    def gossip_once(self, *, now: float | None = None) -> int:
        """Pass on each log's mirror checkpoint if it is newer than the one last passed
        on and ``gossip_interval`` has gone by; return how many logs were passed on."""
        if self.gossip_interval is None:
            return 0
        now = time.monotonic() if now is None else now
        sent = 0
        for st in self.store.states():
            size, at = self._pushed.get(st.origin, (0, float("-inf")))
            if st.note is None or st.size <= size or now - at < self.gossip_interval:
                continue
            self._pushed[st.origin] = (st.size, now)
            self.push(st.origin, st.note)
            sent += 1
        return sent

    def push(self, origin: str, note: bytes) -> int:
        """Send a checkpoint to every member but its log's owner; return how many took it."""
        took = 0
        for member in self.members():
            if member.origin == origin:
                continue
            try:
                self._client(member).gossip([note])
                took += 1
            except PelError as exc:
                log.debug("gossip to %s failed: %s", member.agency, exc.message)
        return took

    def remember(self, origin: str, note: bytes) -> None:
        """Keep a checkpoint larger than the copy, to compare once the copy reaches it."""
        with self._lock:
            kept = [n for n in self._ahead.get(origin, []) if n != note] + [note]
            kept.sort(key=lambda n: note_checkpoint(n).size)
            self._ahead[origin] = kept[-_KEEP_AHEAD:]

    def _check_ahead(self, mlog: MirroredLog) -> None:
        with self._lock:
            waiting = self._ahead.pop(mlog.origin, [])
        for note in waiting:
            try:
                if self.store.compare(mlog, note) == "ahead":
                    self.remember(mlog.origin, note)
            except MirrorError as exc:
                log.warning("gossip about %s: %s", mlog.origin, exc.message)

    # ---- thread ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.follow_once() > 0
                self.gossip_once()
            except Exception:  # the loop must survive anything; the cause is logged
                log.exception("mirror round failed")
                busy = False
            if not busy:
                self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pel-mirror", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
            self._thread = None
        # Not waiting: a fetch ahead stops before its next request (a peer that hangs
        # holds it for one timeout at most).
        self._fetcher.shutdown(wait=False, cancel_futures=True)
        self._prefetched.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def describe(
    state: MirrorState | None, member: Member, status: MirrorStatus | None, flagged: set[str]
) -> dict[str, Any]:
    """One log's entry in ``/v1/node``'s ``mirrors``."""
    size = state.size if state else 0
    seen = [
        s
        for s in (status.seen_size if status else None, state.pending_size if state else None)
        if s is not None
    ]
    return {
        "agency": member.agency,
        "size": size,
        "verified_at": _rfc3339(state.verified_at) if state and state.verified_at else None,
        "behind": max(0, max(seen) - size) if seen else None,
        "error": (status.error or None) if status else None,
        "index": (status.index or None) if status else None,
        "flagged": member.origin in flagged,
    }


def _rfc3339(t: dt.datetime) -> str:
    # SQLite gives back naive times; every time stored here is UTC.
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def receive_gossip(
    store: MirrorStore,
    trust_list: TrustList | None,
    agency: str,
    notes: Sequence[str],
    follower: MirrorFollower | None = None,
) -> list[dict[str, Any]]:
    """Compare gossiped checkpoints with this node's mirrors; record any fork proven.

    Each result is ``{"origin", "size", "result"}`` with ``result`` one of
    ``consistent``, ``cosigned``, ``ahead``, ``fork``, ``flagged``, ``own_log``,
    ``unknown_log``, ``bad_checkpoint``.
    """
    if len(notes) > MAX_GOSSIP_NOTES:
        raise MirrorError(
            f"at most {MAX_GOSSIP_NOTES} checkpoints per gossip request", code="bad_gossip"
        )
    out: list[dict[str, Any]] = []
    for text in notes:
        try:
            note = text.encode()
        except UnicodeEncodeError:  # a lone surrogate (``"\ud800"``) is valid JSON, not UTF-8
            raise MirrorError("a gossiped checkpoint is not text", code="bad_gossip") from None
        if len(note) > MAX_NOTE_BYTES:
            raise MirrorError("a gossiped checkpoint is too large", code="bad_gossip")
        try:
            cp = note_checkpoint(note)
        except CheckpointError as exc:
            raise MirrorError(f"not a checkpoint: {exc.message}", code="bad_gossip") from None
        item: dict[str, Any] = {"origin": cp.origin, "size": cp.size}
        member = trust_list.member_for_origin(cp.origin) if trust_list else None
        if member is None or trust_list is None:
            item["result"] = "unknown_log"
        elif member.agency == agency:
            item["result"] = "own_log"
        else:
            mlog = MirroredLog.of(member, trust_list)
            try:
                item["result"] = store.compare(mlog, note)
            except MirrorError as exc:
                item["result"] = exc.code
            if item["result"] == "ahead" and follower is not None:
                follower.remember(cp.origin, note)
        out.append(item)
    return out
