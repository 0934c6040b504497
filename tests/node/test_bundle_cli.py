"""Bundles from real nodes (in process, cosigned by the other members' witnesses): who may
ask for a part, pending records, ``pel verify-bundle`` and the QR code decoded for real."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from pel.api.app import create_app
from pel.crypto.keys import SigningKey
from pel.crypto.note import NoteSignature, parse_note, parse_signature_line
from pel.crypto.request import parse_authorization, sign_request
from pel.ledger.bundles.bundle import (
    Bundle,
    BundleError,
    build_bundle,
    merge_bundles,
    verify_bundle,
)
from pel.ledger.bundles.qr import b45decode, b45encode, read_qr_text
from pel.ledger.errors import RecordError
from pel.ledger.federation.trust_list import Member, SignedTrustList, TrustList, new_version
from pel.ledger.records import validate_record
from pel.node.agency_node import Node, init_node
from pel.node.serving.sequencer import Sequencer
from pel.node.trust.chain import apply_version
from pel.node.trust.secret_files import write_private_key
from pel.node.workers.bundles import BUNDLE_PATH, assemble, build_part, write_qr
from tests import factories as f
from tests.bundle_kit import AGENCIES as MEMBERS
from tests.bundle_kit import Kit
from tests.node.test_cli import run

PWID = "MM-7K3Q9X2M4T8V1B5N"
STRANGER = "MM-0000000000000000"


@dataclass
class Trio:
    nodes: dict[str, Node]
    tokens: dict[str, str]
    trust_file: Path
    trust_list: TrustList
    holder: SigningKey
    witnessed: dict[tuple[str, str], int]

    def publish(self, agency: str, cosigners: int = 2) -> int:
        """Integrate the log and have ``cosigners`` other members' witnesses cosign it."""
        node = self.nodes[agency]
        latest = Sequencer(node.log).sequence_once() or node.log.latest()
        assert latest is not None
        size, note = latest.checkpoint.size, latest.note
        others = [a for a in self.nodes if a != agency][:cosigners]
        for other in others:
            old = self.witnessed.get((other, agency), 0)
            proof = node.log.consistency_proof(old, size) if 0 < old < size else []
            body = f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
            lines = self.nodes[other].witness.add_checkpoint(
                (body + "\n").encode() + note, now=int(time.time())
            )
            # One line per witness key: Ed25519 and ML-DSA-44.
            sigs = [parse_signature_line(x) for x in lines.decode().splitlines()]
            assert len(sigs) == 2
            node.log.add_cosignatures(size, sigs)
            self.witnessed[(other, agency)] = size
        return size


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[Trio]:
    made = {}
    tokens = {}
    for agency, origin, _ in MEMBERS:
        made[agency], tokens[agency] = init_node(tmp_path / agency, agency=agency, origin=origin)
    members = []
    for agency, _, cc in MEMBERS:  # each member's entry, as the agencies would make it
        made[agency].stop()
        url = f"http://127.0.0.1:9/{cc}"
        code, out, err = run(
            "federation", "member", str(tmp_path / agency), "--url", url, "--name", agency
        )
        assert code == 0, err
        members.append(Member.model_validate(json.loads(out)))
    signed = SignedTrustList(
        TrustList(federation="t", version=1, members=tuple(members), witness_quorum=2, threshold=3)
    )
    for n in made.values():
        signed = signed.sign(n.agency, n.issuer_key)
    for agency in made:
        apply_version(tmp_path / agency, signed)
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(signed.to_json())
    nodes = {agency: Node.open(tmp_path / agency) for agency in made}
    holder = SigningKey.generate()
    write_private_key(tmp_path / "holder.pem", holder)
    trio = Trio(nodes, tokens, trust_file, signed.trust_list, holder, {})
    enrol = f.enrolment(pwid=PWID)
    enrol["body"]["holder_key"] = holder.public_key.to_base64()
    nodes["MM-SSB"].submit([enrol])
    thb = {"currency": "THB", "contributions": {"old_age": "450.00", "sickness": "150.00"}}
    months = [
        f.contribution(pwid=PWID, body={**thb, "period": p, "insured_earnings": "15000.00"})
        for p in ("2026-07", "2026-08", "2026-09")
    ]
    th = nodes["TH-SSO"]
    th.submit(months)
    th.submit([f.contribution(pwid="TH-0123456789ABCDEF", body=thb)])  # someone else
    amend = f.amendment(months[0], issuer="TH-SSO")
    amend["body"]["body"]["insured_earnings"] = "16000.00"
    th.submit([amend, f.revocation(months[1], issuer="TH-SSO")])
    for agency in nodes:
        if nodes[agency].log.state()[0]:
            trio.publish(agency)
    yield trio
    for n in nodes.values():
        n.stop()


def _client(trio: Trio, agency: str) -> TestClient:
    return TestClient(create_app(trio.nodes[agency], start=False))


def _as_agency(
    trio: Trio, agency: str, pwid: str = PWID, *, skew: int = 0, to: str = "TH-SSO"
) -> str:
    """A bundle request signed by ``agency`` for ``to``'s node."""
    path = BUNDLE_PATH.format(pwid=pwid)
    now = int(time.time()) + skew
    return sign_request(trio.nodes[agency].issuer_key, "GET", path, now, audience=to, agency=agency)


def _as_holder(key: SigningKey, pwid: str = PWID, *, to: str = "TH-SSO") -> str:
    """A bundle request signed by the worker's key for ``to``'s node."""
    return sign_request(key, "GET", BUNDLE_PATH.format(pwid=pwid), int(time.time()), audience=to)


def _get(c: TestClient, auth: str | None, pwid: str = PWID) -> tuple[int, str]:
    headers = {"Authorization": auth} if auth else {}
    r = c.get(BUNDLE_PATH.format(pwid=pwid), headers=headers)
    code = r.json()["error"]["code"] if r.status_code >= 400 else ""
    return r.status_code, code


def test_who_may_ask_for_a_bundle_part(trio: Trio) -> None:
    with _client(trio, "TH-SSO") as th, _client(trio, "MM-SSB") as mm:
        # 401: nothing, a bad token, a stale or wrongly signed request.
        assert _get(th, None) == (401, "unauthorized")
        assert _get(th, "Bearer pel_nonsense") == (401, "unauthorized")
        assert _get(th, "Basic abc") == (401, "unauthorized")
        assert _get(th, _as_agency(trio, "MM-SSB", skew=-400)) == (401, "unauthorized")
        forged = _as_agency(trio, "MM-SSB").replace("agency=MM-SSB", "agency=MY-PERKESO")
        assert _get(th, forged) == (401, "unauthorized")
        # 200: the node's own token; the worker's home agency; the host itself by key.
        r = th.get(
            BUNDLE_PATH.format(pwid=PWID),
            headers={"Authorization": "Bearer " + trio.tokens["TH-SSO"]},
        )
        assert r.status_code == 200, r.text
        part = verify_bundle(r.content, trio.trust_list)
        assert {v.record["issuer"] for v in part.records} == {"TH-SSO"}
        assert len(part.records) == 5 and r.headers["pel-pending"] == ""
        assert _get(th, _as_agency(trio, "MM-SSB")) == (200, "")
        assert _get(th, _as_agency(trio, "TH-SSO")) == (200, "")
        # 403: a member that is neither home, host nor named.
        assert _get(th, _as_agency(trio, "MY-PERKESO")) == (403, "forbidden")
        # The worker: where the enrolment is held, with its holder key only.
        assert _get(mm, _as_holder(trio.holder, to="MM-SSB")) == (200, "")
        assert _get(mm, _as_holder(SigningKey.generate(), to="MM-SSB")) == (403, "forbidden")
        assert _get(th, _as_holder(trio.holder)) == (403, "forbidden")
        # An unknown worker, to callers who may ask about them: a part that proves
        # absence from the log (no records, the index proof of an empty list).
        assert _get(th, "Bearer " + trio.tokens["TH-SSO"], STRANGER) == (200, "")
        assert _get(th, _as_agency(trio, "MM-SSB", STRANGER), STRANGER) == (200, "")
        r = th.get(
            BUNDLE_PATH.format(pwid=STRANGER),
            headers={"Authorization": "Bearer " + trio.tokens["TH-SSO"]},
        )
        absent = verify_bundle(r.content, trio.trust_list)
        assert absent.records == ()
        assert [(c.agency, c.indexes) for c in absent.complete] == [("TH-SSO", ())]
        assert _get(th, _as_agency(trio, "MY-PERKESO", STRANGER), STRANGER) == (403, "forbidden")
        stranger = _as_holder(trio.holder, STRANGER, to="MM-SSB")
        assert _get(mm, stranger, STRANGER) == (403, "forbidden")
        # A request signed for one worker does not open another's.
        other = _as_agency(trio, "MM-SSB", STRANGER)
        assert _get(th, other) == (401, "unauthorized")
        # Credentials before input: a bad token is a 401 whatever the pwid; a good one
        # learns that the pwid is not one.
        assert _get(th, "Bearer x", "not-a-pwid") == (401, "unauthorized")
        assert _get(th, "Bearer " + trio.tokens["TH-SSO"], "not-a-pwid") == (422, "bad_pwid")


def test_an_agency_named_by_an_entitlement_may_ask(trio: Trio) -> None:
    th = trio.nodes["TH-SSO"]
    ent = f.entitlement(pwid=PWID)
    ent["body"]["based_on"] = [{"issuer": "MY-PERKESO", "id": "c-1"}]
    ent["body"]["currency"] = "THB"
    th.submit([ent])
    with _client(trio, "TH-SSO") as c:
        assert _get(c, _as_agency(trio, "MY-PERKESO")) == (200, "")


def test_a_signed_request_is_good_only_at_the_node_it_was_made_for(trio: Trio) -> None:
    with _client(trio, "TH-SSO") as th, _client(trio, "MM-SSB") as mm:
        # The worker's request to their home node, passed on by it (or by anyone who saw
        # it) to another member's node within the time window: refused, and said why.
        to_mm = _as_holder(trio.holder, to="MM-SSB")
        assert _get(mm, to_mm) == (200, "")
        r = th.get(BUNDLE_PATH.format(pwid=PWID), headers={"Authorization": to_mm})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "wrong_audience"
        assert "signed for MM-SSB's node, and this is TH-SSO's" in r.json()["error"]["message"]
        # A member's request likewise: MM-SSB asked TH-SSO; TH-SSO cannot reuse it at MY.
        with _client(trio, "MY-PERKESO") as my:
            assert _get(my, _as_agency(trio, "MM-SSB", to="TH-SSO")) == (401, "wrong_audience")
            # Signed for MY's node, it gets through: MY holds nothing of the worker.
            assert _get(my, _as_agency(trio, "MM-SSB", to="MY-PERKESO")) == (404, "not_found")
        # The audience is signed: naming another one in the header breaks the signature.
        relabelled = _as_agency(trio, "MM-SSB", to="MY-PERKESO").replace(
            "aud=MY-PERKESO", "aud=TH-SSO"
        )
        assert _get(th, relabelled) == (401, "unauthorized")
        # The query is signed too: a request signed without one is not good with one.
        path = BUNDLE_PATH.format(pwid=PWID)
        r = th.get(path + "?ids=x", headers={"Authorization": _as_agency(trio, "MM-SSB")})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_a_pel_request_v1_signature_is_refused_as_outdated(trio: Trio) -> None:
    path = BUNDLE_PATH.format(pwid=PWID)
    now = int(time.time())
    message = f"pel-request/v1\nGET {path}\n{now}\n".encode()
    sig = base64.b64encode(trio.nodes["MM-SSB"].issuer_key.sign(message)).decode()
    with _client(trio, "TH-SSO") as th:
        for v1 in (
            f"Pel-Agency agency=MM-SSB,time={now},sig={sig}",
            f"Pel-Holder time={now},sig={sig}",
        ):
            r = th.get(path, headers={"Authorization": v1})
            assert r.status_code == 401, v1
            assert r.json()["error"]["code"] == "outdated_request_signature"
            assert "pel-request/v2" in r.json()["error"]["message"]


def test_records_not_yet_witnessed_are_pending(trio: Trio) -> None:
    th = trio.nodes["TH-SSO"]
    late = f.contribution(pwid=PWID, body={"currency": "THB", "period": "2026-10"})
    th.submit([late])
    Sequencer(th.log).sequence_once()  # a checkpoint, but no cosignatures yet
    part = build_part(th, PWID)
    assert part.pending == [late["id"]]
    assert late["id"] not in {e.record["id"] for e in part.bundle.records}
    verify_bundle(part.bundle.to_bytes(), trio.trust_list)
    trio.publish("TH-SSO", cosigners=1)  # short of the quorum: still pending
    assert build_part(th, PWID).pending == [late["id"]]
    trio.publish("TH-SSO", cosigners=2)
    assert build_part(th, PWID).pending == []
    # A chosen record comes with the enrolment (none here) and its corrections.
    first = next(e.record for e in part.bundle.records if e.record["type"] == "contribution")
    chosen = build_part(th, PWID, [first["id"]])
    assert {e.record["type"] for e in chosen.bundle.records} == {"contribution", "amendment"}


def _bundle_file(trio: Trio, tmp_path: Path) -> tuple[Path, Bundle]:
    parts = [build_part(trio.nodes[a], PWID).bundle for a in ("MM-SSB", "TH-SSO")]
    merged = merge_bundles(parts, trio.trust_list)
    path = tmp_path / "bundle.json"
    path.write_bytes(merged.to_bytes())
    return path, merged


def test_verify_bundle_prints_the_summary(trio: Trio, tmp_path: Path) -> None:
    path, _ = _bundle_file(trio, tmp_path)
    code, out, err = run("verify-bundle", str(path), "--trust", str(trio.trust_file))
    assert code == 0, err
    assert "verified" in out and "home state MM" in out
    assert "months of contributions: old_age" in out and "31000.00" in out
    assert "TH-SSO" in out and "revokes" in out and "amends" in out
    # Tampered: one line on stderr with the code, no traceback, exit 1.
    data = path.read_bytes().replace(b"16000.00", b"17000.00", 1)
    (tmp_path / "bad.json").write_bytes(data)
    code, out, err = run(
        "verify-bundle", str(tmp_path / "bad.json"), "--trust", str(trio.trust_file)
    )
    assert code == 1 and err.startswith("error: ") and "[bad_record_signature]" in err
    assert "Traceback" not in err


def test_verify_bundle_reads_stdin(trio: Trio, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pel.node.cli import app

    path, _ = _bundle_file(trio, tmp_path)
    result = CliRunner().invoke(
        app, ["verify-bundle", "-", "--trust", str(trio.trust_file)], input=path.read_bytes()
    )
    assert result.exit_code == 0, result.stderr
    assert "verified" in result.stdout


def _decode_png(path: Path) -> str:
    [found] = zxingcpp.read_barcodes(Image.open(path))
    return str(found.text)


def test_qr_embedded_round_trip_through_a_decoder(trio: Trio, tmp_path: Path) -> None:
    # Under the default policy every checkpoint carries two ML-DSA-44 cosignatures
    # (2,428 random bytes each): even the home part alone (one enrolment) does not fit
    # in one code, and the code is a reference.
    small = build_part(trio.nodes["MM-SSB"], PWID).bundle
    assert write_qr(small, tmp_path / "big.png") == "reference"
    # A federation whose witnesses count with either key, and a checkpoint cosigned
    # with Ed25519 alone: that bundle fits, and round-trips through a decoder.
    kit = Kit(policy="either")
    kit.append("MM-SSB", f.enrolment(pwid=PWID))
    note = kit.checkpoint("MM-SSB", pq=False)
    tiny = build_bundle(PWID, kit.trust_list, kit.entries("MM-SSB", note))
    png = tmp_path / "qr.png"
    assert write_qr(tiny, png) == "embedded"
    decoded = _decode_png(png)
    assert read_qr_text(decoded) == tiny.to_bytes()
    assert verify_bundle(read_qr_text(decoded), kit.trust_list).records


def test_qr_reference_round_trip_through_a_decoder(trio: Trio, tmp_path: Path) -> None:
    thb = {"currency": "THB"}
    more = [
        f.contribution(pwid=PWID, body={**thb, "period": f"2025-{m:02d}"}) for m in range(1, 13)
    ]
    trio.nodes["TH-SSO"].submit(more)
    trio.publish("TH-SSO")
    path, merged = _bundle_file(trio, tmp_path)
    assert len(merged.records) == 18
    png = tmp_path / "ref.png"
    assert write_qr(merged, png, ref_url="https://example.org/b.json") == "reference"
    decoded = _decode_png(png)
    assert decoded == f"pel-bundle-ref/v1 sha256={merged.digest()} https://example.org/b.json"
    (tmp_path / "ref.txt").write_text(decoded)
    trust = ["--trust", str(trio.trust_file)]
    code, out, err = run("verify-bundle", str(tmp_path / "ref.txt"), *trust, "--bundle", str(path))
    assert code == 0, err
    assert "verified" in out
    code, _, err = run("verify-bundle", str(tmp_path / "ref.txt"), *trust)
    assert code == 1 and "[bundle_needed]" in err and "https://example.org/b.json" in err
    other = tmp_path / "other.json"
    other.write_bytes(build_part(trio.nodes["MM-SSB"], PWID).bundle.to_bytes())
    code, _, err = run("verify-bundle", str(tmp_path / "ref.txt"), *trust, "--bundle", str(other))
    assert code == 1 and "[digest_mismatch]" in err


def test_qr_text_is_strict() -> None:
    for data in (b"", b"\x00", b"ab", bytes(range(256))):
        assert b45decode(b45encode(data)) == data
    assert b45encode(b"AB") == "BB8"  # RFC 9285 example
    for bad in (
        "PEL-BUNDLE/V1:GGW",
        "PEL-BUNDLE/V1:ab",
        "PEL-BUNDLE/V1:BB8",
        "pel-bundle-ref/v1 sha256=AB",
    ):
        with pytest.raises(BundleError):
            read_qr_text(bad)


def test_signed_requests_and_holder_keys_are_strict() -> None:
    key = SigningKey.generate()
    good = sign_request(
        key, "GET", "/v1/pwids/x/bundle", 100, audience="MY-PERKESO", agency="TH-SSO"
    )
    req = parse_authorization(good)
    assert req.agency == "TH-SSO" and req.verify(key.public_key, "GET", "/v1/pwids/x/bundle")
    assert req.audience == "MY-PERKESO" and req.covers_body(b"")
    assert not req.verify(key.public_key, "GET", "/v1/pwids/y/bundle")
    for bad in (
        good.replace("time=100", "time=0100"),
        good + ",time=1",
        good.replace("Pel-Agency", "Pel-Holder"),
        good.replace("sig=", "sig=A"),
        good.replace("aud=MY-PERKESO", "aud=MY PERKESO"),
        good.replace("nonce=", "nonce=AAAA"),
        good.replace("body=", "body=AAAA"),
    ):
        with pytest.raises(Exception) as info:
            parse_authorization(bad)
        assert getattr(info.value, "code", "") == "bad_signature"
    enrol = f.with_issuer(f.enrolment(), "MM-SSB")
    enrol["sig"] = "x"
    for value, code in ((None, "bad_holder_key"), ("AAAA", "bad_holder_key"), (7, "wrong_type")):
        enrol["body"]["holder_key"] = value
        with pytest.raises(RecordError) as err:
            validate_record(enrol)
        assert err.value.code == code
    enrol["body"]["holder_key"] = key.public_key.to_base64()
    validate_record(enrol)


def test_log_reads_a_pwid_and_its_cosigned_sizes(node_and_token: tuple[Node, str]) -> None:
    """On SQLite and PostgreSQL: a worker's entries, and checkpoints with enough cosigners."""
    node, _ = node_and_token
    mine = f.contribution(pwid=PWID)
    node.submit([f.contribution(pwid=STRANGER), mine])
    seq = Sequencer(node.log)
    seq.sequence_once()
    node.submit([f.revocation(mine)])
    seq.sequence_once()
    assert [(i, json.loads(d)["type"]) for i, d in node.log.pwid_entries(PWID)] == [
        (1, "contribution"),
        (2, "revocation"),
    ]
    assert node.log.pwid_entries("TH-0000000000000000") == []
    sig = NoteSignature("w1", b"\x00\x00\x00\x01", bytes(72))
    node.log.add_cosignatures(2, [sig])
    node.log.add_cosignatures(3, [sig, NoteSignature("w2", b"\x00\x00\x00\x02", bytes(72))])
    assert node.log.cosigned_sizes(1) == [3, 2]
    assert node.log.cosigned_sizes(2) == [3]
    assert node.log.cosigned_sizes(3) == []


def test_assembling_leaves_out_what_does_not_verify(trio: Trio) -> None:
    home = build_part(trio.nodes["MM-SSB"], PWID).bundle.to_bytes()
    host = build_part(trio.nodes["TH-SSO"], PWID).bundle.to_bytes()
    answers = {
        "mm.test": httpx.Response(200, content=home, headers={"Pel-Pending": "e-9"}),
        "th.test": httpx.Response(200, content=host.replace(b"16000.00", b"16000.01")),
        "my.test": httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}}),
        "sg.test": httpx.Response(403, json={"error": {"code": "forbidden", "message": "no"}}),
    }
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        if request.url.host == "down.test":
            raise httpx.ConnectError("refused")
        return answers[request.url.host]

    urls = [f"http://{h}" for h in [*answers, "down.test"]]
    mock = httpx.MockTransport(handler)
    got = assemble(
        PWID, trio.trust_list, urls=urls, sign=lambda _u, _a, p: "Bearer t:" + p, transport=mock
    )
    assert seen == ["Bearer t:" + BUNDLE_PATH.format(pwid=PWID)] * 5
    assert [e.record["issuer"] for e in got.bundle.records] == ["MM-SSB"]
    assert got.pending == {"http://mm.test": ["e-9"]}
    assert set(got.failed) == {"http://th.test", "http://sg.test", "http://down.test"}
    assert "[bad_record_signature]" in got.failed["http://th.test"]
    with pytest.raises(BundleError) as info:
        assemble(PWID, trio.trust_list, urls=urls[1:], sign=lambda _u, _a, p: p, transport=mock)
    assert info.value.code == "no_records"


def test_verify_bundle_with_a_trust_list_chain(trio: Trio, tmp_path: Path) -> None:
    path, _ = _bundle_file(trio, tmp_path)
    signed = SignedTrustList(new_version(trio.trust_list, witness_quorum=1))
    for node in trio.nodes.values():
        signed = signed.sign(node.agency, node.issuer_key)
    v2 = tmp_path / "trust-2.json"
    v2.write_text(signed.to_json())
    code, _, err = run("verify-bundle", str(path), "--trust", str(v2))
    assert code == 1 and "[trust_list_mismatch]" in err
    code, out, err = run(
        "verify-bundle", str(path), "--trust", str(trio.trust_file), "--trust", str(v2)
    )
    assert code == 0, err
    assert "trust list version 1" in out
    # A chain whose link is not signed by the members is refused.
    (tmp_path / "unsigned-2.json").write_text(SignedTrustList(signed.trust_list).to_json())
    code, _, err = run(
        "verify-bundle", str(path), "--trust", str(trio.trust_file),
        "--trust", str(tmp_path / "unsigned-2.json"),
    )  # fmt: skip
    assert code == 1 and "[bad_trust_list]" in err


@pytest.mark.parametrize("long", [True, False], ids=["ml-dsa-44", "ed25519"])
def test_verify_bundle_checks_both_cosignatures(trio: Trio, tmp_path: Path, long: bool) -> None:
    path, _ = _bundle_file(trio, tmp_path)
    doc = json.loads(path.read_bytes())
    note = doc["records"][0]["proof"].split("\n\n", 1)[1]
    sigs = parse_note(note.encode()).signatures
    # Every checkpoint carries the log's line and, per witness, an Ed25519 (72-byte) and
    # an ML-DSA-44 (2,428-byte) cosignature.
    assert sorted(len(s.payload) for s in sigs) == [64, 72, 72, 2428, 2428]
    sig = next(s for s in sigs if len(s.payload) == (2428 if long else 72))
    payload = bytearray(sig.payload)
    payload[30] ^= 0x01
    bad = NoteSignature(sig.name, sig.key_id, bytes(payload))
    tampered = path.read_text().replace(sig.line().rstrip("\n"), bad.line().rstrip("\n"))
    assert tampered != path.read_text()
    (tmp_path / "bad.json").write_text(tampered)
    code, _, err = run("verify-bundle", str(tmp_path / "bad.json"), "--trust", str(trio.trust_file))
    assert code == 1 and "[bad_cosignature]" in err and "Traceback" not in err
    code, _, err = run("verify-bundle", str(path), "--trust", str(trio.trust_file))
    assert code == 0, err
