"""Setting up the demo federation: the member agencies, their node directories and the
trust list they all sign.

``setup_federation`` creates one node directory per agency (keys, settings, a write
token kept in ``DIR/<agency>/token``, mode 0600), signs version 1 of the trust list
with every member's issuer key and applies it to every node. ``DIR/demo.json`` records
the agencies, the ports and the quorum (``Demo.load``/``Demo.save``), so a second run on
the same directory restarts the same federation.
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pel.ledger.federation.quorum import check_rule
from pel.ledger.federation.trust_list import SignedTrustList, TrustList
from pel.node.access.tokens import create_token
from pel.node.agency_node import init_node
from pel.node.demo.asean import agency_for
from pel.node.errors import DemoError
from pel.node.trust.chain import apply_version, member_entry
from pel.node.trust.secret_files import AUDITOR_TOKEN_FILE, TOKEN_FILE, save_token

#: The member agencies in the demo's order: the first N always include both ends of
#: a corridor (Myanmar → Thailand first), so every log of a smaller demo gets records.
DEMO_ORDER: tuple[str, ...] = (
    "TH-SSO",
    "MM-SSB",
    "MY-PERKESO",
    "ID-BPJSTK",
    "SG-CPF",
    "PH-SSS",
    "KH-NSSF",
    "LA-LSSO",
    "VN-VSS",
    "BN-TAP",
)
#: Each agency's log origin (its checkpoints' first line and key name).
ORIGINS: dict[str, str] = {
    "TH-SSO": "sso.go.th/pel",
    "MM-SSB": "ssb.gov.mm/pel",
    "MY-PERKESO": "perkeso.gov.my/pel",
    "ID-BPJSTK": "bpjsketenagakerjaan.go.id/pel",
    "SG-CPF": "cpf.gov.sg/pel",
    "PH-SSS": "sss.gov.ph/pel",
    "KH-NSSF": "nssf.gov.kh/pel",
    "LA-LSSO": "lsso.gov.la/pel",
    "VN-VSS": "vss.gov.vn/pel",
    "BN-TAP": "tap.gov.bn/pel",
}
MIN_STATES = 2
FEDERATION = "ASEAN social-security portability (demo)"
DEMO_FILE = "demo.json"
TRUST_FILE = "trust.json"
LOCAL_URL = "http://127.0.0.1:{port}"


def default_quorum(states: int) -> int:
    """Half the members, rounded up: with ten states a checkpoint needs five of the other
    nine agencies' cosignatures; with two, the other one's."""
    return max(1, math.ceil(states / 2))


def template_fields(agency: str, port: int) -> dict[str, str | int]:
    """What ``--url-template`` and ``--database-template`` may name: ``{agency}``
    (TH-SSO), ``{host}`` (th-sso), ``{db}`` (pel_th_sso) and ``{port}``."""
    low = agency.lower()
    return {"agency": agency, "host": low, "db": "pel_" + low.replace("-", "_"), "port": port}


@dataclass
class DemoNode:
    """One member of the demo federation as the demo directory records it."""

    agency: str
    origin: str
    url: str
    port: int
    directory: Path

    @property
    def state(self) -> str:
        return agency_for(self.agency).state

    def token(self) -> str:
        return (self.directory / TOKEN_FILE).read_text().strip()


@dataclass
class Demo:
    """A demo directory: its members and the trust list they share."""

    directory: Path
    nodes: list[DemoNode]
    quorum: int

    @classmethod
    def load(cls, directory: Path) -> Demo:
        path = directory / DEMO_FILE
        if not path.is_file():
            raise DemoError(f"{directory} holds no demo federation (no {DEMO_FILE})")
        data = json.loads(path.read_text())
        nodes = [
            DemoNode(n["agency"], n["origin"], n["url"], n["port"], directory / n["agency"])
            for n in data["nodes"]
        ]
        return cls(directory, nodes, data["quorum"])

    def save(self) -> None:
        nodes = [
            {"agency": n.agency, "origin": n.origin, "url": n.url, "port": n.port}
            for n in self.nodes
        ]
        doc = {"federation": FEDERATION, "quorum": self.quorum, "nodes": nodes}
        (self.directory / DEMO_FILE).write_text(json.dumps(doc, indent=2) + "\n")

    @property
    def agencies(self) -> list[str]:
        return [n.agency for n in self.nodes]

    def urls(self) -> dict[str, str]:
        """Each agency's node URL as the trust list gives it."""
        return {n.agency: n.url for n in self.nodes}


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all held open while choosing)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def setup_federation(
    directory: Path,
    agencies: Sequence[str],
    *,
    ports: Sequence[int],
    quorum: int,
    url_template: str = LOCAL_URL,
    database_template: str | None = None,
) -> Demo:
    """Create every member's node directory and the signed trust list (version 1).

    Every member signs version 1 (the threshold is all members, as the design asks);
    the witness quorum is ``quorum``. Each node's admin token is kept in
    ``DIR/<agency>/token`` (0600) for the loader, and an auditor token in
    ``DIR/<agency>/auditor-token`` for ``pel audit``; only their hashes are in the
    databases. The nodes read each other's logs as members, by requests signed with
    their issuer keys from the trust list.

    Raises:
        DemoError: ``directory`` is not empty, or a template names an unknown field.
        ConfigError: a node cannot be created (bad database URL, …).
    """
    if directory.exists() and any(directory.iterdir()):
        raise DemoError(f"{directory} is not empty and holds no demo federation")
    check_rule(quorum, len(agencies) - 1)
    directory.mkdir(parents=True, exist_ok=True)
    demo_nodes, members, keys = [], [], []
    for agency, port in zip(agencies, ports, strict=True):
        fields = template_fields(agency, port)
        try:
            url = url_template.format(**fields)
            db = database_template.format(**fields) if database_template else None
        except (KeyError, IndexError, ValueError) as exc:
            raise DemoError(f"a template names an unknown field: {exc}") from None
        node_dir = directory / agency
        node, token = init_node(node_dir, agency=agency, origin=ORIGINS[agency], database_url=db)
        try:
            save_token(node_dir, token)
            auditor = create_token(node.tokens, agency, "demo auditor", role="auditor")
            save_token(node_dir, auditor, AUDITOR_TOKEN_FILE)
            who = agency_for(agency)
            members.append(member_entry(node, name=who.name, url=url, country=who.country))
            keys.append(node.issuer_key)
        finally:
            node.stop()
        demo_nodes.append(DemoNode(agency, ORIGINS[agency], url, port, node_dir))
    tl = TrustList(
        federation=FEDERATION,
        version=1,
        members=tuple(members),
        witness_quorum=quorum,
        threshold=len(members),
    )
    tl.check()
    signed = SignedTrustList(tl)
    for member, key in zip(members, keys, strict=True):
        signed = signed.sign(member.agency, key)
    for n in demo_nodes:
        apply_version(n.directory, signed)
    (directory / TRUST_FILE).write_text(signed.to_json())
    demo = Demo(directory, demo_nodes, quorum)
    demo.save()
    return demo
