"""Cosignatures: what ML-DSA-44 beside Ed25519 costs per checkpoint and per bundle.

Per checkpoint, with ``--witnesses`` witnesses (default 2, the demo's quorum for three
states): a witness signing both cosignatures, and a verifier checking the quorum of
both (``QuorumRule.check``), against Ed25519 alone. Per bundle: the bytes of a
one-record and a many-record bundle (records of one log share a checkpoint) under the
default ``both`` policy and with Ed25519 cosignatures only.

    python -m bench.cosign [--witnesses N] [--records N]
"""

from __future__ import annotations

import argparse
import time

from bench.common import header, row
from pel.crypto.note import add_signatures
from pel.ledger.bundles.bundle import build_bundle, verify_bundle
from pel.ledger.federation.quorum import QuorumRule
from pel.ledger.tlog.checkpoint import Checkpoint, sign_checkpoint
from tests import factories as f
from tests.bundle_kit import Kit


def _rate(fn: object, seconds: float = 1.0) -> float:
    call = fn  # type: ignore[assignment]
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()  # type: ignore[operator]
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--witnesses", type=int, default=2)
    parser.add_argument("--records", type=int, default=20)
    args = parser.parse_args()
    limits = header("Cosignatures: Ed25519 and ML-DSA-44")

    kit = Kit(quorum=2)
    agency = "MM-SSB"
    kit.append(agency, f.enrolment())
    for _ in range(args.records - 1):
        kit.append(agency, f.contribution(body={"currency": "MMK"}))
    k = kit.logs[agency]
    cp = Checkpoint(k.log.name, k.tree.size, k.tree.root())
    body = cp.body()
    witnesses = [o for o in kit.logs.values() if o.agency != agency][: args.witnesses]
    ed = [w.witness for w in witnesses]
    pq = [w.pq for w in witnesses]

    print(f"\n  per checkpoint, {len(witnesses)} witnesses")
    row("ML-DSA-44 sign (one cosignature)", _rate(lambda: pq[0].cosign(body)), "/s")
    row(
        "Ed25519 cosign (one cosignature)",
        _rate(lambda: ed[0].cosign(body)),
        "/s",
        limits.sign,
        "Ed25519 sign limit",
    )
    note_ed = add_signatures(sign_checkpoint(cp, k.log), [s.cosign(body) for s in ed])
    note_both = add_signatures(note_ed, [s.cosign(body) for s in pq])
    rule = kit.trust_list.quorum_rule(agency)
    either = QuorumRule(rule.witnesses, rule.quorum, "either")
    both_rate = _rate(lambda: rule.check_note(note_both))
    ed_rate = _rate(lambda: either.check_note(note_ed))
    row("quorum check, both keys (checkpoints/s)", both_rate, "/s")
    row("quorum check, Ed25519 only (checkpoints/s)", ed_rate, "/s")
    row("  time per checkpoint, both keys", 1e6 / both_rate, "µs")
    row("  time per checkpoint, Ed25519 only", 1e6 / ed_rate, "µs")
    row("checkpoint note bytes, both keys", len(note_both), "B")
    row("checkpoint note bytes, Ed25519 only", len(note_ed), "B")

    print("\n  per bundle (one log, one checkpoint)")
    pwid = k.records[0]["pwid"]
    for n in (1, args.records):
        both = build_bundle(pwid, kit.trust_list, kit.entries(agency, note_both)[:n])
        only = build_bundle(pwid, kit.trust_list, kit.entries(agency, note_ed)[:n])
        row(f"bundle of {n} record(s), both keys", len(both.to_bytes()), "B")
        row(f"bundle of {n} record(s), Ed25519 only", len(only.to_bytes()), "B")
    raw = both.to_bytes()
    row(
        "verify that bundle, both keys (bundles/s)",
        _rate(lambda: verify_bundle(raw, kit.trust_list)),
        "/s",
    )


if __name__ == "__main__":
    main()
