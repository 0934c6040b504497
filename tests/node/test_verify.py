"""``pel verify``'s issuer-signature checks, which run on every core behind the bundles:
every bad signature is found, and the first one in log order is the one reported."""

from __future__ import annotations

import json

import httpx
import pytest

from pel.crypto.keys import SigningKey
from pel.crypto.record import sign_record
from pel.ledger.errors import IntegrityError, MismatchError
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.tiles import decode_entry_bundle, encode_entry_bundle, parse_tile_path
from pel.ledger.records.entries import prepare_record
from pel.ledger.tlog.checkpoint import Checkpoint
from pel.ledger.tlog.rebuild import TileRebuilder
from pel.node.peers import remote_verify as verify
from pel.node.peers.client import LogClient
from pel.node.peers.remote_verify import _SignatureChecks
from tests import factories as f

KEY = SigningKey.generate()
OTHER = SigningKey.generate()


def _bundles(count: int, bad: set[int]) -> list[list[bytes]]:
    """``count`` bundles of 256 signed entries; those at ``bad`` signed by another key."""
    return _bundles_of(count * 256, bad, 256)


def _bundles_of(total: int, bad: set[int], per: int | None = None) -> list[list[bytes]]:
    """``total`` signed THB contributions, in lists of ``per`` (default: one list)."""
    entries = []
    for i in range(total):
        record = f.contribution(issuer="TH-SSO", body={"currency": "THB"})
        entries.append(prepare_record(sign_record(record, OTHER if i in bad else KEY)).entry)
    per = per or total
    return [entries[i : i + per] for i in range(0, total, per)]


def _check_all(
    bundles: list[list[bytes]], ahead: int, processes: bool = False, batch: int = 1024
) -> None:
    checks = _SignatureChecks(KEY.public_key, ahead=ahead, processes=processes, batch=batch)
    for n, entries in enumerate(bundles):
        checks.submit(entries, n * 256)
    checks.finish()


@pytest.mark.parametrize("ahead", [1, 8])
def test_good_signatures_pass(ahead: int) -> None:
    _check_all(_bundles(3, set()), ahead)


@pytest.mark.parametrize("batch", [100, 256, 1024])
@pytest.mark.parametrize("ahead", [1, 8])
@pytest.mark.parametrize("bad", [{0}, {300}, {511, 700}, {767}, {600, 20}])
def test_the_first_bad_signature_is_reported(bad: set[int], ahead: int, batch: int) -> None:
    with pytest.raises(IntegrityError, match=rf"^entry {min(bad)}: the issuer signature"):
        _check_all(_bundles(3, bad), ahead, batch=batch)


def test_entries_must_follow_the_ones_queued() -> None:
    checks = _SignatureChecks(KEY.public_key)
    [entries] = _bundles(1, set())
    checks.submit(entries[:10], 0)
    with pytest.raises(ValueError, match="do not follow"):
        checks.submit(entries[11:20], 11)
    checks.close()


def test_worker_processes_find_the_same_first_bad_signature() -> None:
    bundles = _bundles(3, {20, 600})
    _check_all(_bundles(2, set()), 2, processes=True)
    with pytest.raises(IntegrityError, match=r"^entry 20: the issuer signature"):
        _check_all(bundles, 1, processes=True)
    with pytest.raises(IntegrityError, match=r"^entry 600: the issuer signature"):
        _check_all(_bundles(3, {600, 700}), 1, processes=True, batch=256)


@pytest.mark.parametrize("processes", [False, True])
def test_an_entry_that_is_not_a_signed_record_is_refused(processes: bool) -> None:
    checks = _SignatureChecks(KEY.public_key, processes=processes)
    good = prepare_record(sign_record(f.contribution(), KEY)).entry
    with pytest.raises(IntegrityError, match=r"^entry 12: not a signed record"):
        checks.submit([good, b"[]", good], 11)
        checks.finish()


@pytest.mark.parametrize("processes", [False, True])
def test_a_signed_record_not_in_canonical_json_is_refused(processes: bool) -> None:
    """The signature holds over the record's canonical JSON, but the entry is spelled
    another way: a log holds each record in exactly one spelling, as a mirror insists."""
    record = sign_record(f.contribution(), KEY)
    good = prepare_record(record).entry
    spaced = json.dumps(record, sort_keys=True).encode()
    assert spaced != good and json.loads(spaced) == json.loads(good)
    checks = _SignatureChecks(KEY.public_key, processes=processes)
    with pytest.raises(IntegrityError, match=r"^entry 4: not a signed record: not in RFC 8785"):
        checks.submit([good, spaced], 3)
        checks.finish()


# ---- the first bad entry in log order, whichever check finds it -------------------------


def _served(entries: list[bytes], tamper: dict[int, bytes]) -> tuple[LogClient, Checkpoint]:
    """A client of a log holding ``entries`` whose bundles serve ``tamper[i]`` in place of
    entry i (tiles and the checkpoint stay those of the true entries)."""
    rebuilt = TileRebuilder()
    tiles = dict(rebuilt.add([hash_leaf(e) for e in entries]))
    tiles.update(rebuilt.partial_tiles())
    served = [tamper.get(i, e) for i, e in enumerate(entries)]

    def answer(request: httpx.Request) -> httpx.Response:
        kind, level, index, width = parse_tile_path(request.url.path.lstrip("/"))
        if kind == "entries":
            start = index * 256
            return httpx.Response(200, content=encode_entry_bundle(served[start : start + 256]))
        return httpx.Response(200, content=tiles[(level, index)][: (width or 256) * 32])

    client = LogClient("http://node.example", transport=httpx.MockTransport(answer))
    return client, Checkpoint("sso.go.th/pel", len(entries), rebuilt.root())


@pytest.mark.parametrize("processes", [False, True])
@pytest.mark.parametrize(
    ("bad_signature", "changed", "reported"),
    [
        (10, 2000, "entry 10: the issuer signature"),  # behind the changed bytes
        (2000, 10, "served tile 0/0 does not match .* entry 10"),
        (10, 10, "served tile 0/0 does not match .* entry 10"),  # the same entry: its hash
        (700, 1300, "entry 700: the issuer signature"),  # a few bundles and batches back
    ],
)
def test_the_first_bad_entry_is_reported_whichever_check_finds_it(
    bad_signature: int,
    changed: int,
    reported: str,
    processes: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [entries] = _bundles_of(2100, {bad_signature})
    client, checkpoint = _served(entries, {changed: entries[changed].replace(b"THB", b"THX", 1)})
    monkeypatch.setattr(verify, "PROCESSES_FROM", 0 if processes else 10**9)
    with client, pytest.raises(MismatchError, match=rf"^{reported}"):
        verify.rebuild_log(
            client, checkpoint, TileRebuilder(), verify.VerifyReport(), issuer_key=KEY.public_key
        )


def test_a_short_bundle_behind_a_bad_signature_reports_the_signature() -> None:
    [entries] = _bundles_of(1000, {5})
    client, checkpoint = _served(entries, {})
    bundle = client.entry_bundle

    def short(index: int, width: int | None = None) -> bytes:
        data = bundle(index, width)
        return data if index != 2 else encode_entry_bundle(decode_entry_bundle(data)[:-1])

    client.entry_bundle = short  # type: ignore[method-assign]
    with client, pytest.raises(MismatchError, match=r"^entry 5: the issuer signature"):
        verify.rebuild_log(
            client, checkpoint, TileRebuilder(), verify.VerifyReport(), issuer_key=KEY.public_key
        )
