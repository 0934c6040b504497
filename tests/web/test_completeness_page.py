"""The browser verifier checks completeness as ``pel verify-bundle`` does: each log's
index proof against the root its cosigned checkpoint commits to; a record left out is
rejected as ``incomplete``; a log without a proof is shown as not proven complete."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from pel.crypto.jcs import canonicalize
from pel.ledger.bundles.bundle import Bundle, BundleError, make_index, verify_bundle
from tests import factories as f
from tests.e2e.test_federation import Federation, federation  # noqa: F401 (fixture)
from tests.web.test_pages import (  # noqa: F401 (fixtures)
    browser,
    make_bundle,
    page,
    trust_list,
    verifier,
    verify_file,
    wait_witnessed,
)


def complete_bundle(fed: Federation) -> Bundle:
    """The worker's bundle from TH-SSO's and MY-PERKESO's logs, with both logs' index
    proofs at the checkpoints its records are proven against."""
    bundle = Bundle.from_json(make_bundle(fed))
    items = []
    for node in fed.nodes[:2]:
        size = node.log.state()[1]
        wait_witnessed(node, size)
        items.append(make_index(node.log.index_proof(f.PWID, size), node.log.cosigned_note(size)))
    items.sort(key=lambda i: i.origin_and_size[0])
    return replace(bundle, completeness=tuple(items))


def test_the_page_checks_completeness_like_the_cli(
    federation: Federation,  # noqa: F811
    verifier: Any,  # noqa: F811
) -> None:
    fed, tl = federation, trust_list(federation)
    bundle = complete_bundle(fed)
    report = verify_bundle(bundle, tl)
    assert len(report.complete) == 2 and len(report.unproven) == 1
    status, text = verify_file(verifier, bundle.to_bytes())
    assert status == "valid", text
    items = verifier.eval_on_selector_all(
        "#completeness li", "ls => ls.map(l => [l.dataset.origin, l.dataset.status, l.textContent])"
    )
    by_origin = {o: (s, t) for o, s, t in items}
    for c in report.complete:
        assert by_origin[c.origin][0] == "complete"
        assert f"up to size {c.size}" in by_origin[c.origin][1]
    assert [o for o, (s, _) in by_origin.items() if s == "unproven"] == list(report.unproven)
    # Each record left out in turn: rejected as incomplete, by both verifiers.
    for drop in range(len(bundle.records)):
        fewer = replace(bundle, records=bundle.records[:drop] + bundle.records[drop + 1 :])
        try:
            verify_bundle(fewer, tl)
            raise AssertionError("the Python verifier accepted an incomplete bundle")
        except BundleError as exc:
            assert exc.code == "incomplete"
        status, text = verify_file(verifier, fewer.to_bytes())
        assert status == "rejected" and "[incomplete]" in text, text
    # A proof edited to hide a record does not lead to the committed root.
    obj = json.loads(bundle.to_json())
    obj["completeness"][0]["proof"]["indexes"] = obj["completeness"][0]["proof"]["indexes"][:-1]
    status, text = verify_file(verifier, canonicalize(obj))
    assert status == "rejected" and "[bad_index_proof]" in text, text
