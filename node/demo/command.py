"""How to call ``pel`` from the shell that ran this one, for commands printed to copy.

After ``make run`` the ``pel`` script sits in ``.venv/bin``, which is on nobody's PATH
until the virtual environment is activated; a printed ``pel …`` line would fail as
printed. ``pel_command`` names the script the way the user can run it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def pel_command(argv0: str | None = None) -> str:
    """``pel`` when that name on PATH is this very script, else its path (relative to the
    working directory when it lies below it, e.g. ``.venv/bin/pel``)."""
    script = Path(argv0 if argv0 is not None else sys.argv[0])
    if script.name != "pel":
        # Run as ``python -m pel.node.cli`` or from a test: the installed script's usual name.
        found = shutil.which("pel")
        if found:
            return "pel"
        script = Path(sys.executable).with_name("pel")
    on_path = shutil.which("pel")
    try:
        if on_path and Path(on_path).resolve() == script.resolve():
            return "pel"
        resolved = script.absolute()
        relative = os.path.relpath(resolved, Path.cwd())
    except (OSError, ValueError):
        return str(script)
    if relative.startswith(".."):
        return str(resolved)
    return relative if os.sep in relative else f".{os.sep}{relative}"
