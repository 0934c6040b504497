"""The one witness quorum rule: the five places that ask "is this checkpoint witnessed?"
give the same answer on the same inputs, and a quorum of 0 (or no witnesses, or more
than there are) is refused wherever a trust list is made, signed or applied."""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pel.crypto.note import NoteSignature, add_signatures, parse_note
from pel.ledger.bundles.bundle import _check_checkpoint
from pel.ledger.errors import BundleError, TrustListError
from pel.ledger.federation.mirror_store import MirroredLog, MirrorStore, _keep_witnessed
from pel.ledger.federation.quorum import QuorumRule, Witness, WitnessKey, check_rule
from pel.ledger.federation.trust_list import SignedTrustList, TrustList, new_version, verify_next
from pel.ledger.storage.engine import create_schema, make_engine
from pel.ledger.tlog.audit_checks import check_cosignatures
from pel.ledger.tlog.checkpoint import Checkpoint, sign_checkpoint
from pel.node.agency_node import init_node, witnessed_note
from pel.node.demo.setup import setup_federation
from pel.node.trust.chain import apply_version
from pel.node.workers.bundles import witnessed_cosignatures
from tests import factories as f
from tests.bundle_kit import Kit
from tests.node.test_cli import run

LOG = "TH-SSO"  # witnessed by MM-SSB and MY-PERKESO


def _note(kit: Kit, signers: list[tuple[str, str]], flip: tuple[str, str] | None = None) -> bytes:
    """TH-SSO's checkpoint, cosigned by (agency, "ed" | "pq") pairs; ``flip`` names a line
    whose signature gets one flipped bit."""
    k = kit.logs[LOG]
    cp = Checkpoint(k.log.name, k.tree.size, k.tree.root())
    note = sign_checkpoint(cp, k.log)
    sigs = []
    for agency, kind in signers:
        signer = kit.logs[agency].witness if kind == "ed" else kit.logs[agency].pq
        sig = signer.cosign(cp.body())
        if (agency, kind) == flip:
            payload = bytearray(sig.payload)
            payload[20] ^= 0x01
            sig = NoteSignature(sig.name, sig.key_id, bytes(payload))
        sigs.append(sig)
    return add_signatures(note, sigs) if sigs else note


# The five former call sites, each asked the same question about one checkpoint.
def _audit(note: bytes, tl: TrustList) -> bool:
    return check_cosignatures(note, tl.quorum_rule(LOG)).ok


def _bundle_verifier(note: bytes, tl: TrustList) -> bool:
    try:
        _check_checkpoint(note, tl.member(LOG), tl)  # type: ignore[arg-type]
    except BundleError:
        return False
    return True


def _bundle_builder(note: bytes, tl: TrustList) -> bool:
    parsed = parse_note(note)
    return witnessed_cosignatures(parsed.text, parsed.signatures, LOG, tl).ok


def _node_witnessed(note: bytes, tl: TrustList) -> bool:
    return witnessed_note(note, tl.member(LOG).log_verifier, tl, LOG).ok  # type: ignore[union-attr]


def _mirror_witnessed(note: bytes, tl: TrustList) -> bool:
    log = MirroredLog.of(tl.member(LOG), tl)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as d:
        engine = make_engine(f"sqlite:///{d}/m.db")
        try:
            create_schema(engine)
            with engine.begin() as conn:
                _keep_witnessed(conn, log, 1, note)
            return MirrorStore(engine).witnessed(log.origin) is not None
        finally:
            engine.dispose()


SITES: dict[str, Callable[[bytes, TrustList], bool]] = {
    "audit": _audit,
    "bundle verifier": _bundle_verifier,
    "bundle builder": _bundle_builder,
    "Node.witnessed": _node_witnessed,
    "mirror": _mirror_witnessed,
}

MM, MY = "MM-SSB", "MY-PERKESO"
CASES = [
    # (quorum, policy, cosignature lines, flipped line, witnessed?)
    (2, "both", [(MM, "ed"), (MM, "pq"), (MY, "ed"), (MY, "pq")], None, True),
    (2, "both", [(MM, "ed"), (MY, "ed")], None, False),
    (2, "both", [(MM, "ed"), (MM, "pq"), (MY, "ed")], None, False),
    (2, "either", [(MM, "ed"), (MY, "ed")], None, True),
    (2, "either", [(MM, "pq"), (MY, "ed")], None, True),
    (2, "either", [(MM, "ed"), (MM, "pq")], None, False),
    (1, "both", [(MM, "pq")], None, False),
    (1, "both", [(MY, "ed"), (MY, "pq")], None, True),
    (1, "either", [(MY, "pq")], None, True),
    (1, "both", [(MM, "ed"), (MM, "pq")], (MM, "pq"), False),
    (1, "either", [(MM, "ed")], (MM, "ed"), False),
    (2, "both", [], None, False),
]


@pytest.mark.parametrize(("quorum", "policy", "lines", "flip", "want"), CASES)
def test_the_five_sites_agree(
    quorum: int, policy: str, lines: list[tuple[str, str]], flip: tuple[str, str] | None, want: bool
) -> None:
    kit = Kit(quorum, policy)
    kit.append(LOG, f.contribution(body={"currency": "THB"}))
    note = _note(kit, lines, flip)
    answers = {name: site(note, kit.trust_list) for name, site in SITES.items()}
    assert answers == dict.fromkeys(SITES, want)


def test_a_retired_witness_key_counts_only_before_its_retirement() -> None:
    kit = Kit(1, "either")
    kit.append(LOG, f.contribution(body={"currency": "THB"}))
    note = _note(kit, [(MM, "ed")])  # cosigned at 1_700_000_000
    key = kit.logs[MM].witness.verifier
    for until, want in ((1_700_000_001, True), (1_700_000_000, False)):
        rule = QuorumRule((Witness(MM, (WitnessKey(key, until),)),), 1, "either")
        result = rule.check_note(note)
        assert result.ok is want
        assert bool(result.invalid) is not want


# ---- quorum 0, no witnesses, more than the witnesses: refused everywhere --------------


def _forged(tl: TrustList, **changes: object) -> TrustList:
    """``tl`` with fields changed behind validation's back (as a hand-edited file held in
    memory would be), to reach the entry points past construction."""
    bad = copy.copy(tl)
    for name, value in changes.items():
        object.__setattr__(bad, name, value)
    return bad


def _bad_lists(kit: Kit) -> dict[str, TrustList]:
    tl = kit.trust_list
    return {
        "quorum 0": _forged(tl, witness_quorum=0),
        "quorum -1": _forged(tl, witness_quorum=-1),
        "more than the witnesses": _forged(tl, witness_quorum=3),
        "no witnesses": _forged(tl, members=(tl.member(LOG),), threshold=1, witness_quorum=1),
    }


def test_making_a_trust_list_refuses_a_bad_quorum() -> None:
    kit = Kit()
    tl = kit.trust_list
    for quorum in (0, -1, 3):
        with pytest.raises(TrustListError) as bad:
            TrustList(**{**dict(tl), "witness_quorum": quorum})
        assert bad.value.code == "bad_quorum"
        with pytest.raises(TrustListError):
            new_version(tl, witness_quorum=quorum)
    with pytest.raises(TrustListError) as bad:
        TrustList(**{**dict(tl), "members": tl.members[:1], "threshold": 1})
    assert bad.value.code == "bad_quorum"
    for quorum, witnesses in ((0, 2), (1, 0), (3, 2)):
        with pytest.raises(TrustListError):
            check_rule(quorum, witnesses)
    with pytest.raises(TrustListError):
        QuorumRule((), 1)
    with pytest.raises(TrustListError):
        QuorumRule.simple({MM: kit.logs[MM].witness.verifier}, 0)


def test_signing_reading_and_applying_refuse_a_bad_quorum(tmp_path: Path) -> None:
    kit = Kit()
    node, _ = init_node(tmp_path / "node", agency=LOG, origin=kit.logs[LOG].log.name)
    node.stop()
    for what, bad in _bad_lists(kit).items():
        with pytest.raises(TrustListError, match=r"quorum|witness"):
            SignedTrustList(bad).sign(LOG, kit.logs[LOG].issuer)
        doc = json.dumps({"trust_list": bad.document(), "signatures": []})
        with pytest.raises(TrustListError):
            SignedTrustList.from_json(doc)
        with pytest.raises(TrustListError):
            verify_next(SignedTrustList(bad), None)
        with pytest.raises(TrustListError):
            apply_version(tmp_path / "node", SignedTrustList(bad))
        assert not (tmp_path / "node" / "federation").exists()
        # And every place that counts cosignatures refuses to count under it.
        note = _note(kit, [(MM, "ed"), (MM, "pq"), (MY, "ed"), (MY, "pq")])
        for name, site in SITES.items():
            try:
                answer = site(note, bad)
            except TrustListError:
                continue
            assert answer is False, (what, name)


def test_the_cli_and_the_demo_refuse_a_quorum_of_zero(tmp_path: Path) -> None:
    kit = Kit()
    files = []
    for i, m in enumerate(kit.trust_list.members):
        files += ["--member", str(tmp_path / f"m{i}.json")]
        (tmp_path / f"m{i}.json").write_text(m.model_dump_json())
    code, _, err = run(
        "federation", "init", str(tmp_path / "tl.json"), "--name", "x", "--quorum", "0", *files
    )
    assert code == 1 and "[bad_quorum]" in err and "Traceback" not in err
    assert not (tmp_path / "tl.json").exists()
    with pytest.raises(TrustListError) as bad:
        setup_federation(tmp_path / "demo", ["TH-SSO", "MY-PERKESO"], ports=[1, 2], quorum=0)
    assert bad.value.code == "bad_quorum"
