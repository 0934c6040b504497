"""The documentation holds together: the README stays short, every internal link and anchor
in README.md and docs/*.md resolves (as a forge renders them and as MkDocs does), and the
site builds with ``mkdocs build --strict`` (no warning)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# [text](target) and ![alt](target), with an optional "title"; <https://…> autolinks are
# external and not matched. Reference-style links are not used in these pages.
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.*?)\1")


def github_slug(title: str) -> str:
    """The anchor a forge gives a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = INLINE_CODE.sub(lambda m: m.group(2), title).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def mkdocs_slug(title: str) -> str:
    """The anchor Python-Markdown's toc extension (MkDocs) gives a heading."""
    text = INLINE_CODE.sub(lambda m: m.group(2), title)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def strip_code(text: str) -> list[str]:
    """The lines of ``text`` outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
            continue
        lines.append("" if fenced else INLINE_CODE.sub("", line))
    return lines


def anchors(path: Path, slug: Callable[[str], str]) -> set[str]:
    """Every heading anchor of a Markdown file, with the forge's ``-1``, ``-2`` suffixes."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}_{n}" if slug is mkdocs_slug else f"{base}-{n}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link outside code."""
    out = []
    for number, line in enumerate(strip_code(path.read_text(encoding="utf-8")), 1):
        out.extend((number, m.group(1)) for m in LINK.finditer(line))
    return out


def broken_links(files: list[Path], root: Path) -> list[str]:
    """Every internal link of ``files`` whose file or anchor does not exist.

    A link to a Markdown file must name an existing file inside ``root``; its anchor, if
    any, must be a heading of that file under both the forge's and MkDocs's slugs.
    """
    problems = []
    for path in files:
        for number, target in links(path):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            where = f"{path.relative_to(root)}:{number}: {target}"
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.is_relative_to(root):
                problems.append(f"{where}: points outside the repository")
                continue
            if not dest.exists():
                problems.append(f"{where}: no such file")
                continue
            if anchor:
                if dest.suffix != ".md":
                    problems.append(f"{where}: an anchor into a file that is not Markdown")
                    continue
                for slug in (github_slug, mkdocs_slug):
                    if anchor not in anchors(dest, slug):
                        problems.append(f"{where}: no heading with anchor #{anchor}")
                        break
    return problems


def doc_files(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def test_the_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_every_internal_link_and_anchor_resolves() -> None:
    files = doc_files(ROOT)
    assert len(files) > 5
    assert sum(len(links(f)) for f in files) > 50
    assert broken_links(files, ROOT) == []


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# Top\n\n## The demo: `pel demo`\n\n"
        "[ok](#the-demo-pel-demo) [ok](docs/a.md#a-heading) [web](https://example.org)\n"
        "[gone](docs/missing.md) [bad anchor](docs/a.md#nowhere) [up](../outside.md)\n"
        "```\n[in code](docs/ignored.md)\n```\n"
    )
    (tmp_path / "docs" / "a.md").write_text(
        "# A heading\n\n[back](../README.md#top) [dash](#a-b)\n\n## A — b\n"
    )
    problems = broken_links(doc_files(tmp_path), tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "docs/missing.md: no such file",
        "docs/a.md#nowhere: no heading with anchor #nowhere",
        "../outside.md: points outside the repository",
        # a forge spells "A — b" a--b, MkDocs a-b: a link must work in both
        "#a-b: no heading with anchor #a-b",
    ]


def test_every_page_is_in_the_site_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", nav, re.M))
    assert {p.name for p in DOCS.glob("*.md")} == listed


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.fail("mkdocs is not installed: it is in the dev extras (make install)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "performance" / "index.html").is_file()


def test_every_file_the_pages_name_exists() -> None:
    """A path in code spans that starts at a folder of the repository names a real file,
    so that a reader who moves from the docs to the code finds what they were told of."""
    tops = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    named = set()
    for path in [*doc_files(ROOT), ROOT / "bench" / "HISTORY.md"]:
        for span in re.findall(r"`([\w./-]+)`", path.read_text(encoding="utf-8")):
            if "/" in span and span.split("/")[0] in tops and "." in span.rsplit("/", 1)[-1]:
                named.add(span)
    assert len(named) > 20
    assert sorted(p for p in named if not (ROOT / p).exists()) == []
