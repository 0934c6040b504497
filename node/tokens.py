"""Bearer tokens the node issues: random secrets of which only a SHA-256 hash is stored.

Each token has a role (see ``docs/access.md``):

* ``writer``: agency staff that submit records (``POST /v1/records``) and read nothing;
* ``reader``: agency staff that read records, entry bundles and workers' bundles;
* ``admin``: a reader and writer that may also list a worker's access record;
* ``auditor``: an accredited auditor: reads the entries of the logs this node serves
  (its own and its mirrors'), as a plain HTTP bearer token that tlog tools can send.

A token is revoked by the first 12 hex digits of its hash (its *id*, shown by
``pel token list``); a revoked token is refused like an unknown one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, replace

from sqlalchemy import Engine, select

from pel.ledger.storage.models import TokenRow
from pel.node.errors import AuthError, ConfigError

TOKENS = TokenRow.__table__
TOKEN_PREFIX = "pel_"
ROLES = ("writer", "reader", "admin", "auditor")
ID_DIGITS = 12


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


def create_token(engine: Engine, agency: str, label: str = "", *, role: str = "admin") -> str:
    """Make a new token; the token itself is returned once, never stored.

    Raises:
        ConfigError: ``role`` is not one of ``ROLES``, or the label is too long.
    """
    if role not in ROLES:
        raise ConfigError(f"{role!r} is not a role: one of {', '.join(ROLES)}")
    if len(label) > 64:
        raise ConfigError("a token's label is at most 64 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            TOKENS.insert().values(
                token_hash=token_hash(token),
                agency=agency,
                label=label,
                role=role,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
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


def token_info(engine: Engine, token: str | None) -> TokenInfo:
    """The standing token ``token``.

    Raises:
        AuthError: no token, or one the node does not know or has revoked.
    """
    if not token:
        raise AuthError("a token is required: send 'Authorization: Bearer <token>'")
    with engine.connect() as conn:
        row = conn.execute(select(TOKENS).where(TOKENS.c.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None:
        raise AuthError("unknown or revoked token")
    return _info(row)


def authenticate(engine: Engine, token: str | None) -> str:
    """The agency a standing token belongs to (any role).

    Raises:
        AuthError: no token, or one the node does not know or has revoked.
    """
    return token_info(engine, token).agency


def list_tokens(engine: Engine) -> list[TokenInfo]:
    """Every token the node issued, revoked ones too, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(TOKENS).order_by(TOKENS.c.created_at)).all()
    return [_info(r) for r in rows]


def revoke_token(engine: Engine, token_id: str) -> TokenInfo:
    """Revoke the token whose id (hash prefix, ``ID_DIGITS`` hex digits) is ``token_id``.

    Raises:
        ConfigError: no standing token has that id.
    """
    if len(token_id) != ID_DIGITS or any(c not in "0123456789abcdef" for c in token_id):
        raise ConfigError(f"a token id is {ID_DIGITS} lowercase hex digits (see pel token list)")
    with engine.begin() as conn:
        row = conn.execute(
            select(TOKENS).where(
                TOKENS.c.token_hash.like(token_id + "%"), TOKENS.c.revoked_at.is_(None)
            )
        ).first()
        if row is None:
            raise ConfigError(f"no standing token has the id {token_id}")
        now = dt.datetime.now(dt.UTC)
        conn.execute(
            TOKENS.update().where(TOKENS.c.token_hash == row.token_hash).values(revoked_at=now)
        )
    return replace(_info(row), revoked_at=now)
