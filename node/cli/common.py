"""What every ``pel`` command shares: the two consoles, ``friendly`` (a project error
becomes one line on stderr and exit status 1) and the progress bars.

Light to import (rich and typer only): every command loads it, ``pel submit`` included,
which needs neither the database layer nor the trust list (``trust_file.py``)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from pel.crypto.errors import PelError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Turn project errors (and bad files) into one line on stderr and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PelError as exc:
            err.print(exc.diagnostics(), markup=False, highlight=False)
            raise typer.Exit(1) from None
        except OSError as exc:
            err.print(
                f"error: {exc.strerror or exc}: {exc.filename or ''} [io_error]",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None
        except UnicodeDecodeError as exc:
            err.print(
                f"error: the input is not UTF-8 text ({exc.reason} at byte {exc.start})"
                " [bad_encoding]",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None
        except Exception as exc:
            reason = _database_failure(exc)
            if reason is None:
                raise
            err.print(f"error: the database failed: {reason} [storage_error]", markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _database_failure(exc: Exception) -> str | None:
    """The driver's first line when ``exc`` is a database error, else None (the whole
    text may repeat the statement's values). SQLAlchemy is looked up, not imported: only
    the commands that open a database load it, and without it loaded no error is its."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None or not isinstance(exc, errors.SQLAlchemyError):
        return None
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def wide(table: Table) -> None:
    """Print a table on stdout; piped output (80 columns unless told) gets 160 columns,
    so that names and dates are not cut."""
    if not out.is_terminal and out.width < 160:
        Console(file=out.file, width=160, soft_wrap=True).print(table)
    else:
        out.print(table)


def progress() -> Progress:
    """A progress bar on stderr, drawn only when stderr is a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )


class RateColumn(ProgressColumn):
    """Items per second, e.g. ``12,345 records/s`` (rich's speed estimate of the task)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}/s" if speed else f"? {self.unit}/s")


def rate_progress(unit: str) -> Progress:
    """:func:`progress` with the rate beside the count, for work measured in ``unit``."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
