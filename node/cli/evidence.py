"""``pel evidence …``: export the fork evidence a node recorded, verify it offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pel.ledger.errors import EvidenceError
from pel.ledger.federation.evidence import ForkEvidence, verify_fork
from pel.ledger.federation.index_evidence import (
    IndexEvidence,
    index_evidence,
    is_index_evidence,
    verify_index_evidence,
)
from pel.node.agency_node import Node
from pel.node.cli.common import friendly, out
from pel.node.cli.trust_file import read_signed

app = typer.Typer(
    help="Fork evidence: list what this node's witness and mirrors found; verify.",
    no_args_is_help=True,
)


@app.command("export")
@friendly
def evidence_export(
    directory: Annotated[Path, typer.Argument(help="The node directory")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write one JSON file per case")],
) -> None:
    """Write the evidence this node's witness and mirrors recorded (proven forks, failed
    proofs, wrong indexes of mirrored logs)."""

    node = Node.open(directory)
    try:
        found = node.witness.evidence()
        wrong_index = index_evidence(node.engine)
    finally:
        node.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, (proven, ev) in enumerate(found, 1):
        kind = "fork" if proven else "unproven"
        path = out_dir / f"{i:04d}-{kind}-{ev.origin.replace('/', '_')}.json"
        path.write_text(ev.to_json())
        out.print(f"{path}: {ev.origin} ({kind})")
    for i, (proven, origin, data) in enumerate(wrong_index, len(found) + 1):
        kind = "wrong-index" if proven else "unproven-index"
        path = out_dir / f"{i:04d}-{kind}-{origin.replace('/', '_')}.json"
        path.write_bytes(data if proven else data + b"\n")
        out.print(f"{path}: {origin} ({kind})")
    if not found and not wrong_index:
        out.print("no evidence recorded")


@app.command("verify")
@friendly
def evidence_verify(
    file: Annotated[Path, typer.Argument(help="A fork or wrong-index evidence file")],
    trust: Annotated[Path, typer.Option(help="A signed trust-list version (JSON)")],
) -> None:
    """Check fork or wrong-index evidence offline with the trust list alone; exit 0 only
    if it proves what it claims."""

    data = file.read_bytes()
    tl = read_signed(trust).trust_list
    if is_index_evidence(data):
        iev = IndexEvidence.from_json(data)
        owner = tl.member_for_origin(iev.origin)
        if owner is None:
            raise EvidenceError(f"no member of {tl.federation} has the log {iev.origin!r}")
        how = verify_index_evidence(iev, owner.log_verifier)
        out.print(f"wrong index proven: {owner.agency}'s log {iev.origin}: {how}")
        return
    ev = ForkEvidence.from_json(data)
    member = tl.member_for_origin(ev.origin)
    if member is None:
        raise EvidenceError(f"no member of {tl.federation} has the log {ev.origin!r}")
    how = verify_fork(ev, member.log_verifier)
    out.print(f"fork proven: {member.agency}'s log {ev.origin}: {how}")
