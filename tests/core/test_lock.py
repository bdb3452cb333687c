"""requirements.lock (what the images install) agrees with pyproject.toml's runtime dependencies.

Fails with the command that fixes it when a dependency was added, removed or re-ranged in
pyproject.toml without re-locking.
"""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
FIX = "pyproject.toml and requirements.lock disagree: run `make lock` and commit requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*(.+))?$")
IMAGE_PYTHON = {"python_version": "3.11", "python_full_version": "3.11.0"}
IMAGE_PLATFORMS = ("x86_64", "aarch64")  # linux/amd64 and linux/arm64 images


def locked() -> list[tuple[str, str, Marker | None]]:
    """(name, version, marker) of every pin in the lock."""
    pins = []
    for line in LOCK.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"unexpected line in {LOCK.name}: {line!r}"
        name, version, marker = match.groups()
        pins.append((canonicalize_name(name), version, Marker(marker) if marker else None))
    return pins


IMAGE_EXTRAS = ("onnx",)  # LOCK_EXTRAS in the Makefile: the images serve ONNX buckets too


def runtime_dependencies() -> list[Requirement]:
    """The project's dependencies and those of the extras the images install."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = [d for e in IMAGE_EXTRAS for d in project["optional-dependencies"][e]]
    return [Requirement(d) for d in (*project["dependencies"], *extras)]


def test_every_runtime_dependency_is_locked_within_its_range() -> None:
    for machine in IMAGE_PLATFORMS:
        env = {**IMAGE_PYTHON, "platform_machine": machine, "sys_platform": "linux"}
        pins = {n: v for n, v, m in locked() if m is None or m.evaluate(env)}
        for req in runtime_dependencies():
            name = canonicalize_name(req.name)
            assert name in pins, f"{req.name} is not in {LOCK.name} ({machine}). {FIX}"
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"{LOCK.name} pins {req.name}=={pins[name]}, outside {req.specifier}. {FIX}"
            )


def test_the_lock_holds_nothing_else_at_the_top() -> None:
    """The pins uv notes as wanted by the project are exactly the runtime dependencies (the rest
    are theirs); no dev tool is locked."""
    wanted = {canonicalize_name(r.name) for r in runtime_dependencies()}
    direct, current = set(), None
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            current = canonicalize_name(match.group(1))
        elif current and "simplepose (pyproject.toml)" in line:
            direct.add(current)
    assert direct == wanted, FIX
    names = {n for n, _, _ in locked()}
    assert not names & {"pytest", "torch", "ruff", "mypy", "simplepose"}, FIX


def test_the_lock_is_made_with_the_extras_the_images_need() -> None:
    """The Makefile's ``lock`` target and this test name the same extras; with ``onnx`` the CPU
    image serves ONNX buckets through ONNX Runtime."""
    match = re.search(r"^LOCK_EXTRAS := (.*)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match and tuple(match.group(1).split()) == IMAGE_EXTRAS
    assert "onnxruntime" in {n for n, _, _ in locked()}
