"""A standard C2SP checkpoint reader accepts pel's checkpoints with the index extension
line: ``log.ParseCheckpoint`` of transparency-dev/formats over golang.org/x/mod's
``sumdb/note``, built from ``checkpoint_reader.go`` beside this file (how: see
docs/completeness.md). Set ``PEL_C2SP_READER`` to the built program; without it the
test is skipped."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from pel.ledger.index import extension_line
from pel.node.agency_node import Node
from tests import factories as f

READER = os.environ.get("PEL_C2SP_READER", "")


@pytest.mark.skipif(
    not (READER and os.access(READER, os.X_OK)),
    reason="set PEL_C2SP_READER to the built checkpoint reader (docs/completeness.md)",
)
def test_a_standard_reader_accepts_the_checkpoint_with_its_extension_line(
    sqlite_node: tuple[Node, str], tmp_path: Path
) -> None:
    node, _ = sqlite_node
    node.submit([f.contribution() for _ in range(3)])
    cp = node.log.integrate()
    assert cp is not None
    note = tmp_path / "checkpoint"
    note.write_bytes(node.log.cosigned_note(3))
    vkey = node.log.log_key.vkey
    got = subprocess.run([READER, str(note), vkey], capture_output=True, text=True, timeout=30)
    assert got.returncode == 0, got.stdout + got.stderr
    root = base64.b64encode(cp.checkpoint.root).decode()
    line = extension_line(node.log.index_root(3))
    assert got.stdout.strip() == (
        f'accepted origin={node.log.origin} size=3 root={root} extension="{line}\\n"'
    )
    # The log's signature covers the extension line: a changed one is refused.
    forged = note.read_bytes().replace(b"pel-index/v1 ", b"pel-index/v1 A", 1)
    note.write_bytes(forged)
    got = subprocess.run([READER, str(note), vkey], capture_output=True, text=True, timeout=30)
    assert got.returncode == 1 and "refused" in got.stdout
