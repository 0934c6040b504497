"""The composition root: the one module of node/ that may see api/.

Dependencies point one way (api → node → ledger → crypto); building the HTTP
application for a node is the single place where the node reaches up, so that
``pel serve`` and ``pel quickstart`` can run what api/ defines.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import socket
import threading
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from pel.api.app import create_app
from pel.node.agency_node import Node
from pel.node.errors import ConfigError


def build_app(node: Node, *, check: bool = True) -> FastAPI:
    """The node's FastAPI application (``check=False`` when the caller already checked the log)."""
    return create_app(node, check=check)


log = logging.getLogger("pel.server")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class NodeServer(uvicorn.Server):
    """uvicorn's server, stopped the same way by SIGINT and SIGTERM (``docker stop``,
    service managers): requests in hand are answered, the node's lifespan stops the
    sequencer and syncs what it wrote, and ``run`` returns, so the process exits 0.
    (uvicorn itself raises the signal again once it has stopped, which makes a SIGTERM
    end the process as killed by it.)"""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be listened to from the main thread
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
            if self._captured_signals:
                name = signal.Signals(self._captured_signals[0]).name
                log.info("stopped on %s: every acknowledged record is stored", name)


def make_server(node: Node, *, host: str, port: int, check: bool = True) -> uvicorn.Server:
    """A uvicorn server for the node's application, not yet started."""
    config = uvicorn.Config(build_app(node, check=check), host=host, port=port, log_level="warning")
    return NodeServer(config)


def listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket for ``make_server(...).run(sockets=[…])``.

    Binding before the node starts turns a busy port into one project error the CLI
    can print, instead of uvicorn's own log line and exit status.

    Raises:
        ConfigError: ``port_in_use`` when another process holds the port, ``bad_address``
            when the address cannot be bound here.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use by another process; stop it or give --port",
                code="port_in_use",
            ) from None
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", code="bad_address"
        ) from None
    sock.set_inheritable(True)
    return sock
