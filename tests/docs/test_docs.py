"""The documentation site builds without warnings: broken links, missing anchors and API
reference entries that no longer resolve fail here; so does a page left out of mkdocs.yml's nav
(a separate test, naming the line to add)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README_LINK = re.compile(r"\]\(([^)#\s]+)")


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "python-api" / "index.html").is_file()
    api = (tmp_path / "python-api" / "index.html").read_text()
    assert "PoseEstimator" in api and "keypoint_scores" in api  # rendered from the docstrings


def test_readme_links_point_at_files() -> None:
    """README.md is outside the site: its relative links are checked here."""
    text = (REPO / "README.md").read_text()
    missing = [
        link
        for link in README_LINK.findall(text)
        if "://" not in link and not (REPO / link).exists()
    ]
    assert not missing, missing


def test_readme_fits_a_screen_or_two() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= 80


def test_every_page_is_in_the_nav() -> None:
    import yaml

    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]

    def pages(node: object) -> set[str]:
        if isinstance(node, str):
            return {node}
        if isinstance(node, dict):
            return set().union(*(pages(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(pages(v) for v in node))
        return set()

    listed = pages(nav)
    present = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")}
    missing = sorted(present - listed)
    assert not missing, f"add to the nav in mkdocs.yml: {missing}"
