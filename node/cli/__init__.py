"""The ``pel`` command line: thin wrappers that call node/ and ledger/ and print.

Every command prints a ``PelError`` as one line (``error: … [code]``) on stderr and
exits 1; no traceback reaches a person. Each module here holds one group of commands;
this one names them, in the order ``pel --help`` lists them, and imports a command's
module only when that command runs: ``pel submit`` would otherwise first load the
server, the database layer and the bundle code, about a second of every run.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from importlib import import_module
from typing import Any

import typer
from typer.core import TyperGroup

#: Each command: the module of this package that holds it, and its attribute there (a
#: command function, or a ``typer.Typer`` of subcommands).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("run", "init"),
    "serve": ("run", "serve"),
    "check": ("run", "check"),
    "synth": ("filings", "synth"),
    "submit": ("filings", "submit"),
    "verify": ("verify", "verify"),
    "quickstart": ("run", "quickstart"),
    "demo": ("demo", "demo"),
    "audit": ("verify", "audit"),
    "bundle": ("bundle", "bundle_cmd"),
    "verify-bundle": ("bundle", "verify_bundle_cmd"),
    "entitle": ("entitle", "entitle"),
    "federation": ("federation", "app"),
    "keys": ("keys", "app"),
    "evidence": ("evidence", "app"),
    "mirror": ("mirror", "app"),
    "web": ("web", "app"),
    "rules": ("rules", "app"),
    "agreement": ("agreement", "app"),
    "token": ("tokens", "app"),
    "worker": ("worker", "app"),
}


def load_command(name: str) -> Any:
    """The click command ``name`` (one of :data:`COMMANDS`), its module imported now."""
    module, attr = COMMANDS[name]
    target = getattr(import_module(f"{__name__}.{module}"), attr)
    # Built as ``app.command()`` and ``app.add_typer`` would build it under ``pel``.
    holder = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
        return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]
    holder.command(name)(target)
    return typer.main.get_command(holder)


class _Commands(MutableMapping[str, Any]):
    """The group's commands by name: every name of :data:`COMMANDS` is there, and is
    loaded when it is first looked up (``pel --help`` looks them all up)."""

    def __init__(self, added: MutableMapping[str, Any]) -> None:
        self._loaded = dict(added)

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = load_command(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self._loaded if name not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(1 for name in self._loaded if name not in COMMANDS)


class _LazyGroup(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)


app = typer.Typer(
    name="pel",
    cls=_LazyGroup,
    help="Portable Entitlements Ledger: run an agency's node, submit and verify records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _pel() -> None:
    """Nothing to do before a command (the commands are :data:`COMMANDS`)."""


def main() -> None:  # pragma: no cover - console-script shim
    app()


__all__ = ["COMMANDS", "app", "load_command", "main"]
