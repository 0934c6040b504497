"""Errors of the node layer: configuration, authentication, peers.

::

    NodeError (crypto.errors.PelError)
    ├── ConfigError           code: bad_config        a node directory or setting is wrong
    ├── AuthError             code: unauthorized      401: no or unknown write token
    ├── ForbiddenError        code: forbidden         403: the token may not do this
    ├── PeerError             code: peer_unreachable  a remote node failed or answered badly
    └── DemoError             code: demo_failed       the demo federation failed (not_witnessed, …)
"""

from __future__ import annotations

from crypto.errors import PelError


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


class PeerError(NodeError):
    code = "peer_unreachable"
    http_status = 502


class DemoError(NodeError):
    """The demo federation could not be set up, filled or witnessed."""

    code = "demo_failed"
