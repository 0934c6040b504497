"""``pel verify-bundle`` on a bundle merged from real nodes' parts: it says, per log,
"complete in log X up to size N"; dropping any one of the worker's records (the
enrolment, contributions, an amendment, a revocation) is refused as ``incomplete``,
naming the log and the index; ``--require-complete`` refuses a bundle without every
log's proof."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pel.ledger.bundles.bundle import merge_bundles
from pel.node.workers.bundles import build_part
from tests import factories as f
from tests.node.test_bundle_cli import PWID, Trio, trio
from tests.node.test_cli import run

__all__ = ["trio"]


def test_verify_bundle_says_complete_per_log_and_refuses_a_left_out_record(
    trio: Trio,
    tmp_path: Path,
) -> None:
    my = trio.nodes["MY-PERKESO"]
    my.submit([f.contribution(pwid="TH-0123456789ABCDEF")])  # someone else's record
    trio.publish("MY-PERKESO")
    parts = [build_part(trio.nodes[a], PWID).bundle for a in trio.nodes]
    merged = merge_bundles(parts, trio.trust_list)
    path = tmp_path / "bundle.json"
    path.write_bytes(merged.to_bytes())
    trust = ("--trust", str(trio.trust_file))
    code, out, err = run("verify-bundle", str(path), *trust, "--require-complete")
    assert code == 0, err
    assert "complete in log ssb.gov.mm/pel (MM-SSB) up to size 1: 1 record(s)" in out
    assert "complete in log sso.go.th/pel (TH-SSO) up to size 6: 5 record(s)" in out
    assert "complete in log perkeso.gov.my/pel (MY-PERKESO) up to size 1: 0 record(s)" in out
    assert "not proven" not in out

    kinds = set()
    for drop, entry in enumerate(merged.records):
        kinds.add(entry.record["type"])
        fewer = replace(merged, records=merged.records[:drop] + merged.records[drop + 1 :])
        (tmp_path / "fewer.json").write_bytes(fewer.to_bytes())
        code, out, err = run("verify-bundle", str(tmp_path / "fewer.json"), *trust)
        assert code == 1 and "[incomplete]" in err and "Traceback" not in err, err
        origin = next(
            m.origin for m in trio.trust_list.members if m.agency == entry.record["issuer"]
        )
        assert f"({origin})" in err and "leaves out entry" in err
    assert kinds == {"enrolment", "contribution", "amendment", "revocation"}

    # Without MY-PERKESO's proof: reported, and refused when completeness is required.
    kept = tuple(c for c in merged.completeness if c.origin_and_size[0] != "perkeso.gov.my/pel")
    (tmp_path / "less.json").write_bytes(replace(merged, completeness=kept).to_bytes())
    code, out, err = run("verify-bundle", str(tmp_path / "less.json"), *trust)
    assert code == 0, err
    assert "not proven complete in log perkeso.gov.my/pel" in out
    code, _, err = run("verify-bundle", str(tmp_path / "less.json"), *trust, "--require-complete")
    assert code == 1 and "[incomplete]" in err and "perkeso.gov.my/pel" in err
