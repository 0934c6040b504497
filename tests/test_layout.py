"""The house's rules, checked on the code itself.

Dependencies point one way, api → node → ledger → crypto; the one module of node/
that may import api/ is the composition root, ``node/server.py``. Every import of the
project's own code goes through the ``pel`` namespace, and pyproject.toml installs
every package folder under it. The pure rooms (crypto/, the Merkle code) touch no
database, clock, network or web framework.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"crypto": 0, "ledger": 1, "node": 2, "api": 3, "web": 0}
COMPOSITION_ROOT = Path("node/server.py")
IMPURE = ("sqlmodel", "sqlalchemy", "fastapi", "httpx", "uvicorn", "psycopg", "socket", "time")
PURE_ROOMS = ("crypto", "ledger/merkle", "ledger/index")


def _modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for top in LAYERS for p in (ROOT / top).rglob("*.py"))


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module name imported by the file (absolute imports; relative ones are refused)."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            found.append((node.lineno, node.module or ""))
    return found


@pytest.mark.parametrize("path", _modules(), ids=str)
def test_dependencies_point_one_way(path: Path) -> None:
    own = LAYERS[path.parts[0]]
    for line, name in _imports(path):
        parts = name.split(".")
        assert parts[0] not in LAYERS, f"{path}:{line}: import {name!r} outside the pel namespace"
        if parts[0] != "pel" or len(parts) < 2:
            continue
        target = LAYERS[parts[1]]
        if path == COMPOSITION_ROOT and parts[1] == "api":
            continue
        assert target <= own, f"{path}:{line}: {path.parts[0]}/ imports {name} (a layer above it)"


@pytest.mark.parametrize(
    "path", [p for p in _modules() if p.as_posix().startswith(PURE_ROOMS)], ids=str
)
def test_pure_rooms_do_no_io(path: Path) -> None:
    for line, name in _imports(path):
        assert name.split(".")[0] not in IMPURE, f"{path}:{line}: a pure module imports {name}"


def test_every_package_folder_is_installed_under_pel() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    dirs = setuptools["package-dir"]
    found = {"pel.web"}
    for package, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert found == listed, f"installed packages differ from package folders: {found ^ listed}"
    assert all(name.startswith("pel.") for name in listed)
    assert pyproject["project"]["scripts"]["pel"] == "pel.node.cli:app"


def test_layout_test_sees_the_code() -> None:
    # A walk that finds nothing would pass every rule above.
    names = {p.as_posix() for p in _modules()}
    assert {"crypto/note.py", "ledger/merkle/proof.py", "node/server.py", "api/app.py"} <= names
