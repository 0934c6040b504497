"""The names a mirrored log goes by: its origin, or C2SP tlog-mirror's hex prefix."""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine

from pel.ledger.federation.mirror_store import mirror_prefix
from tests.ledger.test_mirror import ORIGIN, engine, mirrored

__all__ = ["engine"]  # the database fixture, shared with test_mirror


def test_the_prefix_is_the_hex_sha256_of_the_origin() -> None:
    assert mirror_prefix("sso.go.th/pel") == hashlib.sha256(b"sso.go.th/pel").hexdigest()
    assert mirror_prefix("a") == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"


def test_a_mirror_path_names_the_origin_by_itself_or_by_its_prefix(engine: Engine) -> None:
    _, store = mirrored(engine, 3)
    assert store.origin_named(ORIGIN) == ORIGIN
    assert store.origin_named(mirror_prefix(ORIGIN)) == ORIGIN
    # A prefix of no mirrored log, or one not in lowercase, is taken as an origin itself.
    unknown = mirror_prefix("another.example/log")
    assert store.origin_named(unknown) == unknown
    assert store.origin_named(mirror_prefix(ORIGIN).upper()) == mirror_prefix(ORIGIN).upper()
