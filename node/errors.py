"""Errors of the node layer: configuration, authentication, peers.

::

    NodeError (crypto.errors.PelError)
    ├── ConfigError           code: bad_config        a node directory or setting is wrong
    ├── AuthError             code: unauthorized      401: no or unknown token, a signed
    │                                                 request that does not verify (codes
    │                                                 wrong_audience, body_mismatch,
    │                                                 replayed_request and
    │                                                 outdated_request_signature say why)
    ├── ForbiddenError        code: forbidden         403: the token may not do this
    ├── BusyError             code: busy              429: too many signed writes to check
    ├── PeerError             code: peer_unreachable  a remote node failed or answered badly
    ├── DemoError             code: demo_failed       the demo federation failed (not_witnessed, …)
    └── AuditFailed           code: the first failure's (fork, no_quorum, hash_mismatch, …)
"""

from __future__ import annotations

from typing import Any

from pel.crypto.errors import PelError


class NodeError(PelError):
    """Base of every node-layer error."""

    code = "node_error"


class ConfigError(NodeError):
    code = "bad_config"


class AuthError(NodeError):
    code = "unauthorized"
    http_status = 401


class ForbiddenError(NodeError):
    code = "forbidden"
    http_status = 403


class BusyError(NodeError):
    """The node cannot take this request now (its replay guard is full); try again."""

    code = "busy"
    http_status = 429


class PeerError(NodeError):
    code = "peer_unreachable"
    http_status = 502


class DemoError(NodeError):
    """The demo federation could not be set up, filled or witnessed."""

    code = "demo_failed"


class AuditFailed(NodeError):
    """``pel audit`` found an inconsistency; ``report`` (a ``node.audit.AuditReport``)
    lists every failure and its evidence. The code is the first failure's."""

    code = "audit_failed"

    def __init__(self, message: str, *, code: str, report: Any) -> None:
        super().__init__(message, code=code)
        self.report = report
