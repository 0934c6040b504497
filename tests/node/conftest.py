"""The stopped node the tamper tests change copies of (built once per run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.tamper_kit import Truth, build_template


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    return build_template(tmp_path_factory.mktemp("tamper"))
