"""The wheel installs everything under the one ``simplepose`` namespace.

The stage folders (``training/``, ``export/``, ``serving/``, ``cli/``) are reached as
``simplepose.training`` and so on through symlinks inside ``simplepose/``; a generic top-level
``training`` package in a user's site-packages would clash with anything else of that name.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[2]
# the stages and the composition root (cli/; their import contracts: [tool.importlinter])
STAGES = {
    "simplepose.training": "training",
    "simplepose.export": "export",
    "simplepose.serving": "serving",
    "simplepose.cli": "cli",
}


def _tree_packages() -> set[str]:
    """Every folder with an ``__init__.py``, named as it is installed."""
    found = set()
    roots = {"simplepose": "simplepose", **STAGES}
    for name, folder in roots.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            if name == "simplepose" and rel and f"simplepose.{rel[0]}" in STAGES:
                continue  # a stage seen through its symlink: counted under its own folder
            found.add(".".join((name, *rel)))
    return found


def test_package_list_covers_the_tree() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == _tree_packages()
    assert "package-dir" not in config


def test_stages_are_symlinked_into_the_package() -> None:
    """``simplepose/<stage>`` is a relative symlink to the top-level folder, so the import path
    and the tree that mypy, ruff and import-linter read are one."""
    for name, folder in STAGES.items():
        link = REPO / "simplepose" / name.split(".")[1]
        assert link.is_symlink(), f"{link} is not a symlink"
        assert Path(link.readlink()) == Path("..") / folder


def test_wheel_holds_only_the_simplepose_namespace(tmp_path: Path) -> None:
    # Build from the tracked files only: a stale build/ folder in a checkout leaks into wheels.
    src = tmp_path / "src"
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        path = REPO / name
        if path.is_symlink():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).symlink_to(path.readlink())
        elif path.is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("simplepose-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"simplepose"}
    assert "simplepose/training/trainer.py" in names
    assert "simplepose/cli/__init__.py" in names  # the console script's module
    assert "simplepose/serving/api/routes/keypoints.py" in names
    # package data of the stages travels with them (the demo model's sample images)
    assert any(n.startswith("simplepose/serving/demo_data/train2017/") for n in names)
    # and the web page's files (serving/static/, served at /)
    assert {"simplepose/serving/static/index.html", "simplepose/serving/static/main.js"} <= set(
        names
    )
