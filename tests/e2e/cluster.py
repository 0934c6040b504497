"""N federation members on loopback, each holding the same signed trust list.

``federation(tmp_path, n)`` creates the members' node directories, writes and
signs version 1 of the trust list (quorum and threshold as given), applies it to
every member and serves each node on its own port. Members can be stopped and
started again on the same port and directory (``Cluster.stop(i)``/``start(i)``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pel.api.app import create_app
from pel.ledger.federation.trust_list import Member, SignedTrustList, TrustList
from pel.node.agency_node import Node, init_node
from pel.node.trust.chain import apply_version
from tests.conftest import free_port, serve

MEMBERS = [
    ("TH-SSO", "sso.go.th/pel", "TH"),
    ("MY-PERKESO", "perkeso.gov.my/pel", "MY"),
    ("SG-CPF", "cpf.gov.sg/pel", "SG"),
    ("PH-SSS", "sss.gov.ph/pel", "PH"),
    ("ID-BPJSTK", "bpjsketenagakerjaan.go.id/pel", "ID"),
    ("VN-VSS", "vss.gov.vn/pel", "VN"),
]

T = TypeVar("T")


@dataclass
class Cluster:
    """Running members: ``nodes[i]`` serves ``urls[i]`` from ``dirs[i]`` (None when stopped)."""

    dirs: list[Path]
    ports: list[int]
    trust_file: Path
    overrides: dict[str, Any]
    nodes: list[Node] = field(default_factory=list)
    _servers: dict[int, contextlib.ExitStack] = field(default_factory=dict)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def start(self, i: int, directory: Path | None = None, **overrides: Any) -> Node:
        """Serve member ``i`` (from its directory, or another one with the same keys)."""
        node = Node.open(directory or self.dirs[i], **{**self.overrides, **overrides})
        stack = contextlib.ExitStack()
        stack.callback(node.stop)  # runs last: after the server
        stack.enter_context(serve(create_app(node), port=self.ports[i]))
        self._servers[i] = stack
        if i < len(self.nodes):
            self.nodes[i] = node
        else:
            self.nodes.append(node)
        return node

    def stop(self, i: int) -> None:
        self._servers.pop(i).close()

    def close(self) -> None:
        for i in sorted(self._servers, reverse=True):
            self.stop(i)


@contextlib.contextmanager
def federation(
    tmp_path: Path, n: int = 3, *, quorum: int = 2, threshold: int | None = None, **overrides: Any
) -> Iterator[Cluster]:
    """Start ``n`` members (see ``MEMBERS``) with a signed trust list; stop them on exit.

    ``overrides`` are node settings (e.g. ``mirror_interval=0.2``).
    """
    chosen = MEMBERS[:n]
    dirs = [tmp_path / agency for agency, _, _ in chosen]
    ports = [free_port() for _ in chosen]
    created = [
        init_node(d, agency=a, origin=o)[0] for d, (a, o, _) in zip(dirs, chosen, strict=True)
    ]
    members = tuple(
        Member(
            agency=agency,
            country=cc,
            name=agency,
            role="both",
            origin=origin,
            url=f"http://127.0.0.1:{port}",
            log_key=node.log_signer.vkey,
            issuer_key=node.issuer_public_key.to_base64(),
            witness_key=node.witness.signer.vkey,
            witness_mldsa_key=node.witness.pq_signer.vkey,
        )
        for (agency, origin, cc), node, port in zip(chosen, created, ports, strict=True)
    )
    signed = SignedTrustList(
        TrustList(
            federation="test",
            version=1,
            members=members,
            witness_quorum=quorum,
            threshold=threshold or n,
        )
    )
    for node in created:
        signed = signed.sign(node.agency, node.issuer_key)
        node.stop()
    for d in dirs:
        apply_version(d, signed)
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(signed.to_json())
    cluster = Cluster(dirs, ports, trust_file, overrides)
    try:
        for i in range(n):
            cluster.start(i)
        yield cluster
    finally:
        cluster.close()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll ``probe`` (every 0.1 s, at most ``timeout`` seconds) until it returns a value."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got is not None and got is not False:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
