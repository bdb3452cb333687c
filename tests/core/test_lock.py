"""The image locks agree with pyproject.toml: requirements.lock (the Ascend image: MindSpore,
the service, video, evaluation) and requirements-cpu.lock (the CPU image: ONNX serving, no
MindSpore).

Fails with the command that fixes it when a dependency was added, removed or re-ranged in
pyproject.toml without re-locking.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
FIX = "pyproject.toml and the image locks disagree: run `make lock` and commit requirements*.lock"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*(.+))?$")
IMAGE_PYTHON = {"python_version": "3.11", "python_full_version": "3.11.0"}
IMAGE_PLATFORMS = ("x86_64", "aarch64")  # linux/amd64 and linux/arm64 images
# lock file -> (the Makefile variable naming its extras, those extras)
LOCKS = {
    "requirements.lock": ("LOCK_EXTRAS", ("mindspore", "serve", "video", "eval", "train")),
    "requirements-cpu.lock": ("CPU_LOCK_EXTRAS", ("serve", "video", "openvino")),
}


def locked(lock: str) -> list[tuple[str, str, Marker | None]]:
    """(name, version, marker) of every pin in the lock."""
    pins = []
    for line in (REPO / lock).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"unexpected line in {lock}: {line!r}"
        name, version, marker = match.groups()
        pins.append((canonicalize_name(name), version, Marker(marker) if marker else None))
    return pins


def runtime_dependencies(lock: str) -> list[Requirement]:
    """The project's dependencies and those of the extras the lock's image installs."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = [d for e in LOCKS[lock][1] for d in project["optional-dependencies"][e]]
    return [Requirement(d) for d in (*project["dependencies"], *extras)]


@pytest.mark.parametrize("lock", LOCKS)
def test_every_runtime_dependency_is_locked_within_its_range(lock: str) -> None:
    for machine in IMAGE_PLATFORMS:
        env = {**IMAGE_PYTHON, "platform_machine": machine, "sys_platform": "linux"}
        pins = {n: v for n, v, m in locked(lock) if m is None or m.evaluate(env)}
        for req in runtime_dependencies(lock):
            name = canonicalize_name(req.name)
            assert name in pins, f"{req.name} is not in {lock} ({machine}). {FIX}"
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"{lock} pins {req.name}=={pins[name]}, outside {req.specifier}. {FIX}"
            )


@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_holds_nothing_else_at_the_top(lock: str) -> None:
    """The pins uv notes as wanted by the project are exactly the runtime dependencies (the rest
    are theirs); no dev tool is locked."""
    wanted = {canonicalize_name(r.name) for r in runtime_dependencies(lock)}
    direct, current = set(), None
    for line in (REPO / lock).read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            current = canonicalize_name(match.group(1))
        elif current and "simplepose (pyproject.toml)" in line:
            direct.add(current)
    assert direct == wanted, FIX
    names = {n for n, _, _ in locked(lock)}
    assert not names & {"pytest", "torch", "ruff", "mypy", "simplepose"}, FIX


@pytest.mark.parametrize("lock", LOCKS)
def test_the_locks_are_made_with_the_extras_their_images_need(lock: str) -> None:
    """The Makefile's ``lock`` target and this test name the same extras; both images serve
    ONNX buckets through ONNX Runtime, only the Ascend image has MindSpore."""
    variable, extras = LOCKS[lock]
    makefile = (REPO / "Makefile").read_text()
    match = re.search(rf"^{variable} := (.*)$", makefile, re.MULTILINE)
    assert match and tuple(match.group(1).split()) == extras
    assert f"--output-file {lock}" in makefile
    names = {n for n, _, _ in locked(lock)}
    assert "onnxruntime" in names
    assert ("mindspore" in names) == (lock == "requirements.lock")
