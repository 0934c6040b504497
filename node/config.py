"""A node's settings and its directory layout.

A node directory holds::

    node.json            settings (below); no secrets
    keys/issuer.pem      Ed25519 key signing the agency's records        (0600)
    keys/log.pem         Ed25519 key signing the log's checkpoints        (0600)
    keys/witness.pem     Ed25519 key cosigning other logs' checkpoints    (0600)
    keys/witness-mldsa.pem  ML-DSA-44 key cosigning them as well           (0600)
    keys/<role>.next.pem a rotated key waiting for the trust-list version that lists it
    pel.db               the SQLite database, unless ``database_url`` points elsewhere
    pel.db-tiles         its tile-node file: full tiles' nodes, mapped by proofs (a copy:
                         written again from the database when missing)
    federation/N.json    the trust-list chain, version 1 (pinned genesis) to the latest

Every setting can be overridden by an environment variable ``PEL_<NAME>`` (e.g.
``PEL_DATABASE_URL=postgresql://127.0.0.1/pel``), which wins over ``node.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from pel.node.errors import ConfigError

CONFIG_FILE = "node.json"
KEY_FILES = {"issuer": "keys/issuer.pem", "log": "keys/log.pem", "witness": "keys/witness.pem"}
MLDSA_KEY_FILE = "keys/witness-mldsa.pem"


class NodeSettings(BaseSettings):
    """Settings of one agency's node."""

    model_config = SettingsConfigDict(env_prefix="PEL_", extra="forbid")

    agency: str = Field(description="The agency id that issues this log's records, e.g. MY-PERKESO")
    origin: str = Field(description="The log's checkpoint origin, e.g. perkeso.gov.my/pel")
    database_url: str = Field(description="SQLAlchemy URL: sqlite:///… or postgresql://…")
    checkpoint_interval: float = Field(0.5, gt=0, le=1.0, description="Seconds between checkpoints")
    max_batch_records: int = Field(10_000, gt=0, description="Most records in one POST")
    max_request_bytes: int = Field(64 << 20, gt=0, description="Largest request body accepted")
    full_check_on_start: bool = Field(True, description="Rehash every entry at start-up")
    index: bool = Field(
        True,
        description="Keep the verifiable index of PWIDs and commit its root in each checkpoint",
    )
    prewarm_tiles: bool = Field(
        True, description="Read the stored tiles once after start-up, in the background"
    )
    prewarm_max_bytes: int = Field(
        2 << 30, ge=0, description="Most bytes of tiles read after start-up (2 GiB)"
    )
    mirror_interval: float = Field(
        1.0, gt=0, le=3600, description="Seconds between mirror rounds once caught up"
    )
    mirror_bundles: int = Field(
        16, gt=0, le=4096, description="Entry bundles a mirror fetches per log and step"
    )
    mirror_timeout: float = Field(5.0, gt=0, le=300, description="Seconds per request to a peer")
    gossip_interval: float = Field(
        5.0, ge=0, le=3600, description="Least seconds between two gossip pushes of one log"
    )
    federation_genesis: str | None = Field(
        None, description="Hex digest of the trust list's version 1, pinned at the first apply"
    )


def load_settings(directory: Path, **overrides: Any) -> NodeSettings:
    """Read ``node.json`` of a node directory; ``PEL_*`` variables win over the file."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{directory} is not a pel node directory (no {CONFIG_FILE}); run pel init"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    data.update(overrides)
    env = {k[4:].lower(): v for k, v in os.environ.items() if k.startswith("PEL_")}
    known = set(NodeSettings.model_fields)
    data.update({k: v for k, v in env.items() if k in known})
    try:
        return NodeSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {field}: {first['msg']}") from None


def save_settings(directory: Path, settings: NodeSettings) -> None:
    """Write ``node.json``, mode 0600: no keys or tokens are in it, but a PostgreSQL
    ``database_url`` may hold the database's password."""
    fd = os.open(directory / CONFIG_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(settings.model_dump(), indent=2) + "\n")
