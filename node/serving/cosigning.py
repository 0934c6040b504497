"""Collecting witness cosignatures for this log's checkpoints (the client side of
C2SP tlog-witness).

After each new checkpoint the collector sends it to every other member's witness
with a consistency proof from the size that witness last cosigned, checks each
cosignature it gets back against the trust list's keys for that witness (Ed25519
and ML-DSA-44), and stores those that verify; ``/checkpoint`` then serves the
checkpoint with its cosignatures. A witness that answers 409 says which size it
holds, and is asked again from there.
"""

from __future__ import annotations

import base64
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import httpx

from pel.crypto.cosignature import verify_cosignature
from pel.crypto.errors import CryptoError
from pel.crypto.note import NoteSignature, parse_signature_line
from pel.ledger.federation.trust_list import Member, TrustList
from pel.ledger.tlog.log import Log
from pel.node import metrics
from pel.node.serving.loop import WakeLoop

log = logging.getLogger("pel.cosigning")


@dataclass
class WitnessStatus:
    """What one witness last did for this log."""

    agency: str
    cosigned_size: int = 0
    last_error: str = ""


class CosignatureCollector(WakeLoop):
    """Asks the federation's witnesses to cosign this log's checkpoints, in a thread."""

    thread_name = "pel-cosigning"

    def __init__(
        self,
        log: Log,
        trust_list: TrustList,
        agency: str,
        *,
        interval: float = 0.5,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(interval)
        self.log = log
        self.trust_list = trust_list
        self.agency = agency
        self.status: dict[str, WitnessStatus] = {}
        self._http = httpx.Client(timeout=timeout, transport=transport)
        # One request per witness at once: a slow witness never holds up the quorum.
        self._pool = ThreadPoolExecutor(16, thread_name_prefix="pel-cosigning-ask")

    def witnesses(self) -> list[Member]:
        return [m for m in self.trust_list.members if m.agency != self.agency]

    def collect_once(self) -> int:
        """Ask every witness about the latest checkpoint, all at once; return how many
        cosigned it. Each cosignature is stored as soon as its witness answers, so the
        checkpoint carries a quorum as soon as the quickest witnesses make one."""
        latest = self.log.latest()
        if latest is None:
            return 0
        size, note = latest.checkpoint.size, latest.note
        got = 0
        asking: dict[Future[list[NoteSignature]], WitnessStatus] = {}
        for member in self.witnesses():
            st = self.status.setdefault(member.agency, WitnessStatus(member.agency))
            if st.cosigned_size == size:
                got += 1
                continue
            asking[self._pool.submit(self._round, member, st, size, note)] = st
        for fut in as_completed(asking):
            st = asking[fut]
            good = fut.result()
            if good:
                self.log.add_cosignatures(size, good)
                metrics.COSIGNATURES.labels(self.log.origin, st.agency).inc(len(good))
                st.cosigned_size, st.last_error = size, ""
                got += 1
        return got

    def _round(
        self, member: Member, st: WitnessStatus, size: int, note: bytes
    ) -> list[NoteSignature]:
        """One witness's verified cosignatures of ``note`` (none when it gave none)."""
        for _ in range(2):  # a 409 tells the size the witness holds: ask again from it
            retry, good = self._ask(member, st, size, note)
            if not retry:
                return good
        return []

    def _ask(
        self, member: Member, st: WitnessStatus, size: int, note: bytes
    ) -> tuple[bool, list[NoteSignature]]:
        """Whether to ask again (the witness holds another size), and the cosignatures."""
        old = st.cosigned_size if st.cosigned_size <= size else 0
        proof = self.log.consistency_proof(old, size) if 0 < old < size else []
        body = (
            f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n"
        ).encode() + note
        labels = (self.log.origin, member.agency)
        started = time.perf_counter()
        try:
            r = self._http.post(member.url.rstrip("/") + "/add-checkpoint", content=body)
        except httpx.HTTPError as exc:
            st.last_error = f"unreachable: {exc}"
            metrics.WITNESS_FAILURES.labels(*labels).inc()
            return False, []
        metrics.WITNESS_SECONDS.labels(*labels).observe(time.perf_counter() - started)
        if r.status_code == 409 and r.headers.get("content-type", "").startswith(
            "text/x.tlog.size"
        ):
            try:
                held = int(r.text.strip())
            except ValueError:
                st.last_error = "409 without a size"
                return False, []
            if held == st.cosigned_size or held > size:
                st.last_error = f"conflict: the witness holds size {held}"
                return False, []
            st.cosigned_size = held
            return True, []
        if r.status_code != 200:
            st.last_error = f"HTTP {r.status_code}: {r.text[:200]}"
            metrics.WITNESS_FAILURES.labels(*labels).inc()
            return False, []
        text = note.split(b"\n\n", 1)[0] + b"\n"
        verifiers = {
            (v.name, v.key_id): v
            for v in (member.witness_verifier, member.witness_mldsa_verifier)
            if v is not None
        }
        good = []
        for line in r.text.splitlines():
            try:
                sig = parse_signature_line(line)
                verifier = verifiers.get((sig.name, sig.key_id))
                if verifier is not None:
                    verify_cosignature(text, sig, verifier)
                    good.append(sig)
            except CryptoError as exc:
                st.last_error = f"bad cosignature: {exc.message}"
                metrics.WITNESS_FAILURES.labels(*labels).inc()
                return False, []
        if not good:
            st.last_error = "no cosignature from the witness's listed keys"
            metrics.WITNESS_FAILURES.labels(*labels).inc()
        return False, good

    def tick(self) -> None:
        try:
            self.collect_once()
        except Exception:
            log.exception("collecting cosignatures failed; retrying")
            time.sleep(1.0)

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self._pool.shutdown(wait=True)
        self._http.close()
