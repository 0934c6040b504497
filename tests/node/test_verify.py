"""``pel verify``'s issuer-signature checks, which run on every core behind the bundles:
every bad signature is found, and the first one in log order is the one reported."""

from __future__ import annotations

import pytest

from crypto.keys import SigningKey
from crypto.record import sign_record
from ledger.entries import prepare_record
from ledger.errors import IntegrityError
from node.verify import _SignatureChecks
from tests import factories as f

KEY = SigningKey.generate()
OTHER = SigningKey.generate()


def _bundles(count: int, bad: set[int]) -> list[list[bytes]]:
    """``count`` bundles of 256 signed entries; those at ``bad`` signed by another key."""
    out = []
    for n in range(count):
        entries = []
        for i in range(n * 256, (n + 1) * 256):
            record = f.contribution(issuer="TH-SSO")
            entries.append(prepare_record(sign_record(record, OTHER if i in bad else KEY)).entry)
        out.append(entries)
    return out


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
