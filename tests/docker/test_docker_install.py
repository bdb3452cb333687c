"""The CPU image's install and start-up, without Docker: the build context the Dockerfile
copies, the same docker/install.sh steps in a fresh venv, the image's environment, then the
entrypoint serving a tiny checkpoint on 127.0.0.1 until /readyz says ready."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_files import (
    DOCKERFILES,
    REPO,
    copy_sources,
    dockerignore_excludes,
    dockerignore_patterns,
    env_settings,
    parse_dockerfile,
)
from localhost import free_port

INSTALL_TIMEOUT_S = 480  # MindSpore is an ~800 MB wheel; measured ~50 s here
READY_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30  # compose's stop_grace_period for the service
IMAGE_SCRIPTS = "/opt/simplepose/"


def copy_build_context(destination: Path) -> None:
    """The files Dockerfile.cpu copies from the build context, .dockerignore applied. Symlinks
    (simplepose/<stage> -> ../<stage>) stay symlinks, as Docker's COPY keeps them."""
    patterns = dockerignore_patterns()
    for source in copy_sources(parse_dockerfile(DOCKERFILES["cpu"])):
        path = REPO / source
        files = [path] if path.is_file() else sorted(_entries(path))
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            if not dockerignore_excludes(patterns, relative):
                (destination / relative).parent.mkdir(parents=True, exist_ok=True)
                if file.is_symlink():
                    (destination / relative).symlink_to(file.readlink())
                else:
                    shutil.copy2(file, destination / relative)


def _entries(folder: Path) -> list[Path]:
    """Files and symlinks below ``folder``, without descending into symlinked folders."""
    found = []
    for root, dirs, names in os.walk(folder):
        found += [Path(root) / n for n in names]
        found += [Path(root) / d for d in dirs if (Path(root) / d).is_symlink()]
    return found


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def run(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, (
        f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture
def fresh_venv(tmp_path: Path) -> Iterator[Path]:
    """An empty venv, deleted afterwards (with MindSpore in it, it takes ~3 GB)."""
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    yield venv
    shutil.rmtree(venv, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(INSTALL_TIMEOUT_S + READY_TIMEOUT_S + 120)
def test_cpu_image_install_and_start(tmp_path: Path, tiny_onnx_dir: Path, fresh_venv: Path) -> None:
    src, venv, work = tmp_path / "src", fresh_venv, tmp_path / "workspace"
    copy_build_context(src)
    work.mkdir()
    python = venv / "bin" / "python"

    # The build stage: the Dockerfile's ARGs/ENV, then the same two install.sh steps.
    instructions = parse_dockerfile(DOCKERFILES["cpu"])
    pip_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip_env.update(PYTHON=str(python))
    pip_env.pop("MINDSPORE_VERSION", None)
    install = ["bash", "docker/install.sh"]
    run([*install, "deps", "requirements-cpu.lock"], timeout=INSTALL_TIMEOUT_S, cwd=src,
        env=pip_env)  # fmt: skip
    run([*install, "project", "."], timeout=300, cwd=src, env=pip_env)
    shutil.rmtree(src / "build", ignore_errors=True)

    # The installed package, not the checkout, is what runs; it carries the demo model's sample
    # images, so an image started without a model volume can still serve (labelled demo).
    probe = (
        "import json, simplepose.serving as serving, simplepose.serving.demo as d; print(serving.__file__); "
        "print(json.dumps([p.relative_to(d.DEMO_DATA).as_posix() for p in d.DEMO_DATA.rglob('*')]))"
    )
    where, listing = run([str(python), "-c", probe], timeout=60, cwd=work).stdout.splitlines()
    assert where.startswith(str(venv))
    demo_data = REPO / "serving" / "demo_data"
    shipped = {
        p.relative_to(demo_data).as_posix()
        for p in demo_data.rglob("*")
        if p.suffix in (".json", ".jpg")
    }
    assert shipped and shipped <= set(json.loads(listing))

    # The final stage: the image's ENV, with the scripts where the image puts them (src/docker
    # holds the same files). Bound to 127.0.0.1 here instead of the image's 0.0.0.0.
    final_stage = max(i.stage for i in instructions)
    env = env_settings(instructions, final_stage)
    port = free_port()
    env.update(
        PATH=f"{venv}/bin:/usr/bin:/bin",
        HOME=str(tmp_path),
        SIMPLEPOSE_HOST="127.0.0.1",
        SIMPLEPOSE_PORT=str(port),
        SIMPLEPOSE_MODEL=str(tiny_onnx_dir),  # exported elsewhere: this image has no MindSpore
        SIMPLEPOSE_CACHE_DIR=str(tmp_path / "cache"),
        SIMPLEPOSE_OFFLINE="1",
    )
    assert env["SIMPLEPOSE_DEVICE"] == "CPU" and "ONEDNN_MAX_CPU_ISA" not in env
    probe = "import importlib.util as u; print(u.find_spec('mindspore') is None)"
    assert run([str(python), "-c", probe], timeout=60, cwd=work).stdout.strip() == "True"
    entrypoint = src / "docker" / "entrypoint.sh"
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        [str(entrypoint)], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, _ = get(base + "/readyz", timeout=2.0)
            except (urllib.error.URLError, OSError):
                status = None
            if status == 200:
                break
            time.sleep(1.0)
        log.seek(0)
        output = log.read()[-4000:]
        assert status == 200, f"not ready (status {status}, exit {process.poll()}):\n{output}"

        # The image's HEALTHCHECK command, as the engine would run it.
        health = subprocess.run(
            [str(python), str(src / "docker" / "healthcheck.py")],
            env=env, cwd=work, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert health.returncode == 0, health.stderr

        status, body = get(base + "/v1/model")
        assert status == 200
        info = json.loads(body)
        assert (info["format"], info["demo"]) == ("onnx", False)

        # `docker stop`: uvicorn shuts down gracefully, then re-raises the signal it caught.
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=STOP_TIMEOUT_S)
        log.seek(0)
        output = log.read()
        assert code in (0, -signal.SIGTERM), output[-4000:]
        assert "Finished server process" in output, output[-4000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()
