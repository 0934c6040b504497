"""Write tokens: random bearer secrets of which the node stores only a SHA-256 hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import Engine, select

from pel.ledger.storage.models import TokenRow
from pel.node.errors import AuthError

TOKENS = TokenRow.__table__
TOKEN_PREFIX = "pel_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, agency: str, label: str = "") -> str:
    """Make a new write token for ``agency``; the token itself is returned once, never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            TOKENS.insert().values(
                token_hash=token_hash(token),
                agency=agency,
                label=label,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return token


def authenticate(engine: Engine, token: str | None) -> str:
    """The agency a token writes for.

    Raises:
        AuthError: no token, or one the node does not know.
    """
    if not token:
        raise AuthError("a write token is required: send 'Authorization: Bearer <token>'")
    with engine.connect() as conn:
        agency = conn.execute(
            select(TOKENS.c.agency).where(TOKENS.c.token_hash == token_hash(token))
        ).scalar()
    if agency is None:
        raise AuthError("unknown write token")
    return str(agency)
