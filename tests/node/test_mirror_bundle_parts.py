"""Bundle parts from a node's mirrors (in process): the home log's records mirrored at a
host node are proven against the newest witnessed checkpoint of the copy (newer ones
pending), open the door to the worker's holder key, come with a chosen record, and
are left out, and said so, once the log is flagged for a fork."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pel.api.app import create_app
from pel.crypto.keys import SigningKey
from pel.ledger.bundles.bundle import verify_bundle
from pel.ledger.errors import MirrorError
from pel.ledger.federation.mirror_store import MirroredLog
from pel.ledger.tlog.checkpoint import Checkpoint, sign_checkpoint
from pel.node.serving.sequencer import Sequencer
from pel.node.workers.bundles import build_part
from tests import factories as f
from tests.node import test_bundle_cli as kit

trio = kit.trio  # MM-SSB (home, the enrolment), TH-SSO (host), MY-PERKESO; quorum 2
Trio = kit.Trio
PWID = kit.PWID
MM = "ssb.gov.mm/pel"
TH = "sso.go.th/pel"


def mirror(trio: Trio, into: str, of: str) -> str:
    """Bring ``into``'s mirror of ``of``'s log to its latest checkpoint, fed from that
    node's own database (what the follower fetches over HTTP); the store's answer."""
    src, dst = trio.nodes[of], trio.nodes[into]
    latest = src.log.latest()
    assert latest is not None
    size = latest.checkpoint.size
    mlog = MirroredLog.of(trio.trust_list.member(of), trio.trust_list)  # type: ignore[arg-type]
    result = dst.mirrors.update_checkpoint(mlog, src.log.cosigned_note(size), src.log.hashes)
    st = dst.mirrors.state(src.log.origin)
    assert st is not None
    if st.next_index < st.pending_size:
        first = st.next_index
        entries = src.log.entries(first, st.pending_size)
        dst.mirrors.add_entries(mlog, first, entries, src.log.hashes)
    return result


def test_a_host_node_shares_the_home_log_it_mirrors(trio: Trio) -> None:
    th = trio.nodes["TH-SSO"]
    client = TestClient(create_app(th, start=False))
    holder = kit._as_holder(trio.holder)
    assert kit._get(client, holder) == (403, "forbidden")  # the enrolment is not held here
    assert mirror(trio, "TH-SSO", "MM-SSB") == "pending"
    # The enrolment in the mirror: the worker's key opens the host node's part.
    assert kit._get(client, kit._as_holder(trio.holder)) == (200, "")
    assert kit._get(client, kit._as_holder(SigningKey.generate())) == (403, "forbidden")
    assert kit._get(client, kit._as_agency(trio, "MY-PERKESO")) == (403, "forbidden")
    part = build_part(th, PWID)
    report = verify_bundle(part.bundle.to_bytes(), trio.trust_list)
    assert [v.member.origin for v in report.records] == [MM] + [TH] * 5
    assert part.pending == [] and part.left_out == []

    # A newer checkpoint of the home log, not yet cosigned, reaches the mirror: its new
    # record is pending; the enrolment stays proven against the witnessed one kept.
    late = f.contribution(pwid=PWID, body={"currency": "MMK", "period": "2026-11"})
    mm = trio.nodes["MM-SSB"]
    mm.submit([late])
    Sequencer(mm.log).sequence_once()
    assert mirror(trio, "TH-SSO", "MM-SSB") == "pending"
    assert th.mirrors.state(MM).size == 2  # type: ignore[union-attr]
    part = build_part(th, PWID)
    assert part.pending == [late["id"]]
    report = verify_bundle(part.bundle.to_bytes(), trio.trust_list)
    [enrolment] = [v for v in report.records if v.member.origin == MM]
    assert enrolment.type == "enrolment" and enrolment.checkpoint_size == 1
    trio.publish("MM-SSB")  # the quorum's cosignatures, then the mirror takes them
    assert mirror(trio, "TH-SSO", "MM-SSB") == "cosigned"
    part = build_part(th, PWID)
    assert part.pending == []
    report = verify_bundle(part.bundle.to_bytes(), trio.trust_list)
    assert {v.checkpoint_size for v in report.records if v.member.origin == MM} == {2}

    # A chosen record of the host's own log comes with the enrolment from the mirror.
    first = next(v.record for v in report.records if v.status == "amended")
    chosen = build_part(th, PWID, [first["id"]])
    assert {e.record["type"] for e in chosen.bundle.records} == {
        "enrolment",
        "contribution",
        "amendment",
    }
    with pytest.raises(Exception, match="no record"):
        build_part(th, PWID, ["no-such-record"])

    # The home log proven to have forked: left out whole, reported, no longer a door.
    size = mm.log.latest().checkpoint.size  # type: ignore[union-attr]
    forged = sign_checkpoint(Checkpoint(MM, size, bytes(range(32))), mm.log_signer)
    mlog = MirroredLog.of(trio.trust_list.member("MM-SSB"), trio.trust_list)  # type: ignore[arg-type]
    with pytest.raises(MirrorError, match="cannot both be true"):
        th.mirrors.compare(mlog, forged)
    part = build_part(th, PWID)
    assert part.left_out == [MM] and part.pending == []
    assert {e.record["issuer"] for e in part.bundle.records} == {"TH-SSO"}
    r = client.get(
        kit.BUNDLE_PATH.format(pwid=PWID), headers={"Authorization": kit._as_agency(trio, "MM-SSB")}
    )
    assert r.status_code == 200 and r.headers["pel-left-out"] == MM
    verify_bundle(r.content, trio.trust_list)
    assert kit._get(client, kit._as_holder(trio.holder)) == (403, "forbidden")
