"""The scheme-rules tables shipped with pel: one YAML file per ASEAN member state.

The tables live in ``ledger/portability/tables/XX.yaml`` (installed with the package);
``shipped_states`` lists them and ``shipped_table`` reads and checks one.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from pel.ledger.errors import RulesError
from pel.ledger.portability.rules import check_table, parse_yaml

#: The ten ASEAN member states whose tables pel ships.
ASEAN_STATES: tuple[str, ...] = ("BN", "ID", "KH", "LA", "MM", "MY", "PH", "SG", "TH", "VN")


def _folder() -> Any:
    return resources.files("pel.ledger.portability").joinpath("tables")


def shipped_states() -> list[str]:
    """The states with a shipped table, in alphabetical order."""
    return sorted(p.name[:-5] for p in _folder().iterdir() if p.name.endswith(".yaml"))


def shipped_text(state: str) -> str:
    """The YAML text of ``state``'s shipped table.

    Raises:
        RulesError: ``no_table``.
    """
    path = _folder().joinpath(f"{state}.yaml")
    if len(state) != 2 or not state.isalpha() or not path.is_file():
        raise RulesError(f"pel ships no rules table for {state!r}", code="no_table")
    return path.read_text(encoding="utf-8")


def shipped_table(state: str) -> dict[str, Any]:
    """``state``'s shipped table as the JSON body of a ``rules`` record, checked."""
    body = parse_yaml(shipped_text(state))
    check_table(body)
    return body  # type: ignore[no-any-return]


__all__ = ["ASEAN_STATES", "shipped_states", "shipped_table", "shipped_text"]
