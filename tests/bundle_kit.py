"""An in-memory federation for bundle tests: members with keys, logs as hash dicts,
checkpoints signed and cosigned by the other members' witnesses. No database, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pel.crypto.cosignature import CosignatureSigner, MLDSACosignatureSigner
from pel.crypto.jcs import canonicalize
from pel.crypto.keys import SigningKey
from pel.crypto.mldsa import MLDSASigningKey
from pel.crypto.note import NoteSigner, add_signatures
from pel.crypto.record import sign_record
from pel.ledger.bundles.bundle import (
    Bundle,
    BundleEntry,
    BundleIndex,
    build_bundle,
    make_entry,
    make_index,
)
from pel.ledger.federation.trust_list import Member, TrustList
from pel.ledger.index import MemoryIndex, extension_line
from pel.ledger.merkle.hashing import hash_leaf
from pel.ledger.merkle.memory import DictHashReader
from pel.ledger.tlog.checkpoint import Checkpoint, sign_checkpoint

AGENCIES = [
    ("MM-SSB", "ssb.gov.mm/pel", "MM"),
    ("TH-SSO", "sso.go.th/pel", "TH"),
    ("MY-PERKESO", "perkeso.gov.my/pel", "MY"),
]


@dataclass
class KitLog:
    agency: str
    country: str
    issuer: SigningKey
    log: NoteSigner
    witness: CosignatureSigner
    pq: MLDSACosignatureSigner
    tree: DictHashReader = field(default_factory=DictHashReader)
    records: list[dict[str, Any]] = field(default_factory=list)
    index: MemoryIndex = field(default_factory=MemoryIndex)


class Kit:
    """Three members (Myanmar home, Thailand and Malaysia hosts), quorum ``quorum``."""

    def __init__(self, quorum: int = 2, policy: str = "both") -> None:
        self.logs: dict[str, KitLog] = {}
        for agency, origin, cc in AGENCIES:
            self.logs[agency] = KitLog(
                agency,
                cc,
                SigningKey.generate(),
                NoteSigner(origin, SigningKey.generate()),
                CosignatureSigner(
                    origin.split("/")[0] + "/witness", SigningKey.generate(), 1_700_000_000
                ),
                MLDSACosignatureSigner(
                    origin.split("/")[0] + "/witness", MLDSASigningKey.generate(), 1_700_000_000
                ),
            )
        members = tuple(
            Member(
                agency=k.agency,
                country=k.country,
                name=k.agency,
                role="both",
                origin=k.log.name,
                url=f"http://127.0.0.1:1/{k.country}",
                log_key=k.log.vkey,
                issuer_key=k.issuer.public_key.to_base64(),
                witness_key=k.witness.vkey,
                witness_mldsa_key=k.pq.vkey,
            )
            for k in self.logs.values()
        )
        self.trust_list = TrustList(
            federation="kit",
            version=1,
            members=members,
            witness_quorum=quorum,
            threshold=3,
            cosigner_policy=policy,
        )
        self.trust_list.check()

    def append(self, agency: str, draft: dict[str, Any]) -> dict[str, Any]:
        """Sign ``draft`` as ``agency`` and append it to its log; return the record."""
        k = self.logs[agency]
        record = sign_record({**draft, "issuer": agency}, k.issuer)
        k.tree.append(hash_leaf(canonicalize(record)))
        k.index.add(len(k.records), record.get("pwid", ""))  # law records name no worker
        k.records.append(record)
        return record

    def checkpoint(
        self, agency: str, cosigners: int | None = None, *, pq: bool = True, ed: bool = True
    ) -> bytes:
        """The log's current checkpoint, cosigned by ``cosigners`` other members (all),
        each with its ML-DSA-44 key (``pq``) and its Ed25519 key (``ed``)."""
        k = self.logs[agency]
        cp = Checkpoint(k.log.name, k.tree.size, k.tree.root(), (extension_line(k.index.root()),))
        note = sign_checkpoint(cp, k.log)
        others = [o for o in self.logs.values() if o.agency != agency]
        if cosigners is not None:
            others = others[:cosigners]
        signers = [s for o in others for s in ((o.witness,) * ed + (o.pq,) * pq)]
        return add_signatures(note, [s.cosign(cp.body()) for s in signers])

    def entries(self, agency: str, note: bytes | None = None) -> list[BundleEntry]:
        """Every record of ``agency``'s log with a proof against ``note`` (its checkpoint)."""
        k = self.logs[agency]
        note = note or self.checkpoint(agency)
        size = k.tree.size
        return [
            make_entry(r, i, k.tree.inclusion_proof(i, size), note) for i, r in enumerate(k.records)
        ]

    def completeness(self, agency: str, pwid: str, note: bytes | None = None) -> BundleIndex:
        """``agency``'s log's index proof for ``pwid`` against its checkpoint ``note``."""
        k = self.logs[agency]
        return make_index(k.index.proof(pwid), note or self.checkpoint(agency))

    def bundle(self, pwid: str, *agencies: str, complete: bool = False, **notes: bytes) -> Bundle:
        """``pwid``'s records in ``agencies``' logs (all), with every log's index proof
        when ``complete``."""
        agencies = agencies or tuple(self.logs)
        notes = {a: notes.get(a) or self.checkpoint(a) for a in self.logs}
        entries = [
            e for a in agencies for e in self.entries(a, notes[a]) if e.record["pwid"] == pwid
        ]
        indexes = [self.completeness(a, pwid, notes[a]) for a in self.logs] if complete else []
        return build_bundle(pwid, self.trust_list, entries, indexes)
