"""Installed, pel is one import package: its wheel holds ``pel`` alone at the top level, and
in a fresh virtual environment where only pel is installed ``import pel`` and ``pel --help``
work while ``import api`` (or ``node``, ``web``, ``crypto``, ``ledger``) fails.

The wheel is built from a copy of the sources, without build isolation (the build backend
is a dev dependency, so nothing is fetched). The fresh environment has no pip and no
packages of its own: one ``.pth`` line lets it see this environment's installed
dependencies (typer, FastAPI…), whose own ``.pth`` files (the editable install of pel
among them) are not read from there, so pel comes only from the wheel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["pyproject.toml", "README.md", "crypto", "ledger", "node", "api", "web"]
OLD_TOP_LEVEL = ["api", "node", "web", "crypto", "ledger"]


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path / "wheel"
    done = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "-q", "-w", out, src, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("pel-*.whl")
    return wheel


def test_pip_install_puts_only_pel_at_the_top_level(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert {n.split("/")[0] for n in names} == {"pel", "pel-0.1.0.dist-info"}
    assert "pel/node/cli/__init__.py" in names
    assert "pel/web/verify.html" in names

    env = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    purelib = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path)
        .stdout.strip()
    )  # fmt: skip
    before = set(p.name for p in purelib.iterdir())
    (purelib / "_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    done = run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "-q", wheel, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    added = {p.name for p in purelib.iterdir()} - before - {"_deps.pth"}
    assert added == {"pel", "pel-0.1.0.dist-info"}

    # Outside the repository, so its folders are not on the path by way of the cwd.
    for name in OLD_TOP_LEVEL:
        done = run(python, "-c", f"import {name}", cwd=tmp_path)
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, name
    done = run(
        python, "-c", "import pel, pel.api.app, pel.node.cli; print(pel.api.app.__file__)",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(purelib)
    done = run(env / "bin" / "pel", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "verify-bundle" in done.stdout
