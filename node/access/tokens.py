"""Bearer tokens the node issues: random secrets of which only a SHA-256 hash is stored.

Each token has a role (see ``docs/access.md``):

* ``writer``: agency staff that submit records (``POST /v1/records``) and read nothing;
* ``reader``: agency staff that read records, entry bundles and workers' bundles;
* ``admin``: a reader and writer that may also list a worker's access record;
* ``auditor``: an accredited auditor: reads the entries of the logs this node serves
  (its own and its mirrors'), as a plain HTTP bearer token that tlog tools can send.

A token is revoked by the first 12 hex digits of its hash (its *id*, shown by
``pel token list``); a revoked token is refused like an unknown one.

Each row is bound by an HMAC-SHA256 (its ``mac`` column) over all its fields, under
the node's token key: 32 random bytes in ``DIR/token-key`` (0600), outside the
database. A row whose MAC fails grants nothing (it is refused like an unknown token)
and stops the start-up check (``token_mac_mismatch``). So someone who can write the
database but not read the node's directory (a PostgreSQL server run by others, an
injected statement, a copy of the file) cannot raise a token's role, put in a hash of
their own, or lift a revocation. Someone who also holds the key file can; and anyone
can delete a row (which only refuses its token) or put back an older copy of the
whole table (which brings back a token revoked since).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from pel.ledger.storage.models import TokenRow
from pel.node.errors import AuthError, ConfigError
from pel.node.trust.secret_files import TOKEN_KEY_FILE, read_secret, write_secret

TOKENS = TokenRow.__table__
TOKEN_PREFIX = "pel_"
ROLES = ("writer", "reader", "admin", "auditor")
ID_DIGITS = 12
_MAC_LABEL = b"pel-token-row/v1\n"

log = logging.getLogger("pel.tokens")


@dataclass(frozen=True)
class TokenTable:
    """The node's ``tokens`` table and the key its rows are bound with."""

    engine: Engine
    key: bytes


def open_token_table(directory: Path, engine: Engine) -> TokenTable:
    """The token table of the node in ``directory``. A node made before rows were bound
    gets its key now (0600), and its rows, which have no MAC yet, are bound with it.

    Raises:
        ConfigError: the key file is readable by others or not a key.
    """
    path = directory / TOKEN_KEY_FILE
    if not path.exists():
        try:
            write_secret(path, secrets.token_bytes(32))
        except FileExistsError:
            pass  # another process made it first
        else:
            table = TokenTable(engine, read_secret(path, "token key"))
            sealed = _seal_unbound(table)
            log.info("created the token key %s; bound %d tokens made before it", path, sealed)
            return table
    key = read_secret(path, "token key")
    if len(key) != 32:
        raise ConfigError(f"{path} is not a token key (32 bytes)")
    return TokenTable(engine, key)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What the node knows of a token: never the token itself."""

    id: str
    agency: str
    label: str
    role: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


def _when(value: dt.datetime | None) -> str | None:
    """A stored time as the MAC reads it: UTC, without a zone (as SQLite gives it back)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def row_mac(key: bytes, fields: dict[str, Any]) -> str:
    """The HMAC-SHA256 (hex) binding a row's fields: its hash, agency, label, role and
    the times it was made and revoked."""
    data = json.dumps(
        [
            fields["token_hash"],
            fields["agency"],
            fields["label"],
            fields["role"],
            _when(fields["created_at"]),
            _when(fields["revoked_at"]),
        ],
        separators=(",", ":"),
    ).encode()
    return hmac.new(key, _MAC_LABEL + data, hashlib.sha256).hexdigest()


def _bound(tokens: TokenTable, row: Any) -> bool:
    mac = row._mapping["mac"]
    return mac is not None and hmac.compare_digest(mac, row_mac(tokens.key, row._mapping))


def _seal_unbound(tokens: TokenTable) -> int:
    """Bind every row that has no MAC yet (made before rows were bound)."""
    with tokens.engine.begin() as conn:
        rows = conn.execute(select(TOKENS).where(TOKENS.c.mac.is_(None))).all()
        for row in rows:
            conn.execute(
                TOKENS.update()
                .where(TOKENS.c.token_hash == row.token_hash)
                .values(mac=row_mac(tokens.key, row._mapping))
            )
    return len(rows)


def create_token(tokens: TokenTable, agency: str, label: str = "", *, role: str = "admin") -> str:
    """Make a new token; the token itself is returned once, never stored.

    Raises:
        ConfigError: ``role`` is not one of ``ROLES``, or the label is too long.
    """
    if role not in ROLES:
        raise ConfigError(f"{role!r} is not a role: one of {', '.join(ROLES)}")
    if len(label) > 64:
        raise ConfigError("a token's label is at most 64 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    fields: dict[str, Any] = {
        "token_hash": token_hash(token),
        "agency": agency,
        "label": label,
        "role": role,
        "created_at": dt.datetime.now(dt.UTC),
        "revoked_at": None,
    }
    with tokens.engine.begin() as conn:
        conn.execute(TOKENS.insert().values(**fields, mac=row_mac(tokens.key, fields)))
    return token


def _info(row: object) -> TokenInfo:
    return TokenInfo(
        id=row.token_hash[:ID_DIGITS],  # type: ignore[attr-defined]
        agency=row.agency,  # type: ignore[attr-defined]
        label=row.label,  # type: ignore[attr-defined]
        role=row.role,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        revoked_at=row.revoked_at,  # type: ignore[attr-defined]
    )


def token_info(tokens: TokenTable, token: str | None) -> TokenInfo:
    """The standing token ``token``, its row's MAC checked first.

    Raises:
        AuthError: no token, or one the node does not know, has revoked, or whose row
            was changed (refused alike: the answer tells a caller nothing).
    """
    if not token:
        raise AuthError("a token is required: send 'Authorization: Bearer <token>'")
    with tokens.engine.connect() as conn:
        row = conn.execute(select(TOKENS).where(TOKENS.c.token_hash == token_hash(token))).first()
    if row is not None and not _bound(tokens, row):
        log.warning("token %s refused: its row does not match its MAC", row.token_hash[:ID_DIGITS])
        row = None
    if row is None or row.revoked_at is not None:
        raise AuthError("unknown or revoked token")
    return _info(row)


def authenticate(tokens: TokenTable, token: str | None) -> str:
    """The agency a standing token belongs to (any role).

    Raises:
        AuthError: no token, or one the node does not know or has revoked.
    """
    return token_info(tokens, token).agency


def list_tokens(tokens: TokenTable) -> list[TokenInfo]:
    """Every token the node issued, revoked ones too, oldest first."""
    with tokens.engine.connect() as conn:
        rows = conn.execute(select(TOKENS).order_by(TOKENS.c.created_at)).all()
    return [_info(r) for r in rows]


def unbound_tokens(tokens: TokenTable) -> list[str]:
    """The ids of the rows whose MAC does not match their fields (changed, or put in,
    by someone without the token key)."""
    with tokens.engine.connect() as conn:
        rows = conn.execute(select(TOKENS).order_by(TOKENS.c.token_hash)).all()
    return [str(r.token_hash)[:ID_DIGITS] for r in rows if not _bound(tokens, r)]


def remove_unbound(tokens: TokenTable) -> list[str]:
    """Delete the rows whose MAC fails (their tokens were refused already); their ids."""
    with tokens.engine.begin() as conn:
        rows = conn.execute(select(TOKENS)).all()
        bad = [str(r.token_hash) for r in rows if not _bound(tokens, r)]
        for h in bad:
            conn.execute(TOKENS.delete().where(TOKENS.c.token_hash == h))
    return [h[:ID_DIGITS] for h in bad]


def revoke_token(tokens: TokenTable, token_id: str) -> TokenInfo:
    """Revoke the token whose id (hash prefix, ``ID_DIGITS`` hex digits) is ``token_id``.

    Raises:
        ConfigError: no standing token has that id.
    """
    if len(token_id) != ID_DIGITS or any(c not in "0123456789abcdef" for c in token_id):
        raise ConfigError(f"a token id is {ID_DIGITS} lowercase hex digits (see pel token list)")
    with tokens.engine.begin() as conn:
        row = conn.execute(
            select(TOKENS).where(
                TOKENS.c.token_hash.like(token_id + "%"), TOKENS.c.revoked_at.is_(None)
            )
        ).first()
        if row is None:
            raise ConfigError(f"no standing token has the id {token_id}")
        now = dt.datetime.now(dt.UTC)
        fields = {**row._mapping, "revoked_at": now}
        conn.execute(
            TOKENS.update()
            .where(TOKENS.c.token_hash == row.token_hash)
            .values(revoked_at=now, mac=row_mac(tokens.key, fields))
        )
    return replace(_info(row), revoked_at=now)
