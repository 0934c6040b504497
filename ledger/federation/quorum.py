"""The witness quorum: one rule for when a checkpoint counts as witnessed.

Every place that asks "is this checkpoint witnessed?" (the node's status, the bundle
builder, the bundle verifier, the mirror's witnessed copy, the audit) asks it here,
so they cannot disagree. The shape follows python-tuf: :meth:`QuorumRule.check`
returns a :class:`QuorumResult` (who counted, who is missing, which lines were bad)
and :meth:`QuorumRule.enforce` raises when the quorum is not met.

The rule, from the trust list: the witnesses of a log are the other members; each
has an Ed25519 (cosignature/v1) key and an ML-DSA-44 key; under the ``both`` policy
a witness counts when both of its keys cosigned the checkpoint, under ``either``
when one of them did; ``quorum`` witnesses must count. A quorum below 1, an empty
witness list or a quorum larger than the witnesses is not a rule at all:
:func:`check_rule` refuses it wherever a trust list is made, signed or applied, and
a :class:`QuorumRule` cannot be built with one.

A key the trust list lists as retired still verifies cosignatures made (by their
timestamp) before its retirement, and none made at or after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pel.crypto.cosignature import verify_cosignature
from pel.crypto.errors import CryptoError
from pel.crypto.note import ALG_MLDSA44_COSIGNATURE, NoteSignature, NoteVerifier, parse_note
from pel.ledger.errors import QuorumError, TrustListError

Policy = Literal["either", "both"]
POLICIES: tuple[Policy, ...] = ("both", "either")
ED25519 = "ed25519"
MLDSA44 = "ml-dsa-44"


def check_rule(quorum: int, witnesses: int) -> None:
    """Refuse a quorum that is no rule: below 1, no witnesses, or more than there are.

    Raises:
        TrustListError: code ``bad_quorum``.
    """
    if witnesses < 1:
        raise TrustListError(
            "a log needs at least one witness: the trust list must have two members or more",
            code="bad_quorum",
        )
    if quorum < 1:
        raise TrustListError(
            f"the witness quorum must be at least 1, not {quorum}: a quorum of 0 would "
            "count every checkpoint as witnessed",
            code="bad_quorum",
        )
    if quorum > witnesses:
        raise TrustListError(
            f"the witness quorum {quorum} exceeds the {witnesses} witnesses of a log",
            code="bad_quorum",
        )


@dataclass(frozen=True)
class WitnessKey:
    """One cosigning key of a witness, and when it stopped counting (POSIX seconds)."""

    verifier: NoteVerifier
    until: int | None = None

    @property
    def kind(self) -> str:
        return MLDSA44 if self.verifier.alg == ALG_MLDSA44_COSIGNATURE else ED25519


@dataclass(frozen=True)
class Witness:
    """A witness (a member agency) and its cosigning keys, current and retired."""

    agency: str
    keys: tuple[WitnessKey, ...]


@dataclass(frozen=True)
class QuorumResult:
    """What one checkpoint's cosignatures show under a rule.

    Attributes:
        quorum: Witnesses needed.
        policy: ``both`` or ``either``.
        verified: Agencies that count, sorted.
        missing: Agencies that do not count, sorted.
        kinds: Per agency, the key kinds whose cosignature verified.
        timestamps: Per counted agency, its latest verified cosignature time.
        invalid: Per agency, why a line under one of its keys was refused.
        signatures: The lines that verified (each key once), in note order.
    """

    quorum: int
    policy: str
    verified: tuple[str, ...]
    missing: tuple[str, ...]
    kinds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timestamps: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)
    signatures: tuple[NoteSignature, ...] = ()

    @property
    def ok(self) -> bool:
        return self.quorum >= 1 and len(self.verified) >= self.quorum

    def to_dict(self) -> dict[str, Any]:
        return {
            "quorum": self.quorum,
            "policy": self.policy,
            "ok": self.ok,
            "verified": {a: self.timestamps.get(a, 0) for a in self.verified},
            "kinds": {a: list(k) for a, k in self.kinds.items()},
            "invalid": self.invalid,
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class QuorumRule:
    """The witnesses of one log, the quorum and the policy; valid once built."""

    witnesses: tuple[Witness, ...]
    quorum: int
    policy: Policy = "both"

    def __post_init__(self) -> None:
        check_rule(self.quorum, len(self.witnesses))
        if self.policy not in POLICIES:
            raise TrustListError(f"unknown cosigner policy {self.policy!r}", code="bad_quorum")

    @classmethod
    def of(cls, trust_list: Any, agency: str) -> QuorumRule:
        """The rule for ``agency``'s log under a trust list (its other members witness)."""
        return cls(
            tuple(m.witness_keys() for m in trust_list.members if m.agency != agency),
            trust_list.witness_quorum,
            trust_list.cosigner_policy,
        )

    @classmethod
    def simple(
        cls, witnesses: Mapping[str, NoteVerifier | Iterable[NoteVerifier]], quorum: int, **kw: Any
    ) -> QuorumRule:
        """A rule from agency → key(s), none of them retired."""
        out = []
        for agency, keys in witnesses.items():
            vs = (keys,) if isinstance(keys, NoteVerifier) else tuple(keys)
            out.append(Witness(agency, tuple(WitnessKey(v) for v in vs)))
        return cls(tuple(out), quorum, **kw)

    def key_lines(self) -> set[tuple[str, bytes]]:
        """(name, key ID) of every key of every witness."""
        return {(k.verifier.name, k.verifier.key_id) for w in self.witnesses for k in w.keys}

    def check(self, text: bytes, signatures: Iterable[NoteSignature]) -> QuorumResult:
        """Verify every line made under a witness key; say who counts."""
        by_line = {
            (k.verifier.name, k.verifier.key_id): (w.agency, k)
            for w in self.witnesses
            for k in w.keys
        }
        kinds: dict[str, set[str]] = {}
        times: dict[str, int] = {}
        invalid: dict[str, str] = {}
        good: list[NoteSignature] = []
        done: set[tuple[str, bytes]] = set()
        for sig in signatures:
            line = (sig.name, sig.key_id)
            if line not in by_line or line in done:
                continue
            agency, key = by_line[line]
            try:
                stamp = verify_cosignature(text, sig, key.verifier)
            except CryptoError as exc:
                invalid[agency] = exc.message
                continue
            if key.until is not None and stamp >= key.until:
                invalid[agency] = (
                    f"{agency}'s {key.kind} cosignature was made at {stamp}, after its key "
                    f"was retired at {key.until}"
                )
                continue
            done.add(line)
            good.append(sig)
            kinds.setdefault(agency, set()).add(key.kind)
            times[agency] = max(times.get(agency, 0), stamp)
        need = {ED25519, MLDSA44}
        counted = sorted(
            a for a, k in kinds.items() if (need <= k if self.policy == "both" else bool(k))
        )
        everyone = sorted(w.agency for w in self.witnesses)
        return QuorumResult(
            quorum=self.quorum,
            policy=self.policy,
            verified=tuple(counted),
            missing=tuple(a for a in everyone if a not in counted),
            kinds={a: tuple(sorted(k)) for a, k in sorted(kinds.items())},
            timestamps={a: times[a] for a in counted},
            invalid=invalid,
            signatures=tuple(good),
        )

    def check_note(self, note: bytes) -> QuorumResult:
        """:meth:`check` over a whole note (its text and signature lines).

        Raises:
            NoteFormatError: the note is malformed.
        """
        parsed = parse_note(note)
        return self.check(parsed.text, parsed.signatures)

    def enforce(self, text: bytes, signatures: Iterable[NoteSignature]) -> QuorumResult:
        """:meth:`check`, raising when the quorum is not met.

        Raises:
            QuorumError: code ``no_quorum``, saying how many counted of how many needed.
        """
        result = self.check(text, signatures)
        enforce(result)
        return result


def enforce(result: QuorumResult) -> None:
    """Raise unless ``result`` meets its quorum.

    Raises:
        QuorumError: code ``no_quorum``.
    """
    if not result.ok:
        policy = "both keys" if result.policy == "both" else "either key"
        raise QuorumError(
            f"{len(result.verified)} witness(es) cosigned with {policy}; the quorum is "
            f"{result.quorum}"
            + (f" (missing: {', '.join(result.missing)})" if result.missing else "")
        )


__all__ = [
    "ED25519",
    "MLDSA44",
    "POLICIES",
    "Policy",
    "QuorumResult",
    "QuorumRule",
    "Witness",
    "WitnessKey",
    "check_rule",
    "enforce",
]
