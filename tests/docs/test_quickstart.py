"""The README's quickstart runs as written: ``make serve``, the ``curl`` and the Python snippet.

Two substitutions, both of what the machine cannot have: a small model exported by the test
stands in for the download / demo model (``SERVE_ARGS=--model``, and the snippet's model name),
and the service listens on a free port instead of 8000. ``make test`` is the command running
this test, so it is only dry-run (``make -n``) for what it would do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from localhost import free_port, wait_ready

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
SNIPPET_MODEL = re.compile(r'PoseEstimator\("([^"]+)"')
DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_S = 300


def readme_blocks(language: str) -> list[str]:
    return [
        body for lang, body in BLOCK.findall((REPO / "README.md").read_text()) if lang == language
    ]


@pytest.fixture(scope="module")
def exported_model(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simplepose.export.exporter import export_model

    directory = tmp_path_factory.mktemp("quickstart_model")
    export_model(tiny_checkpoint, directory, flip=True)
    return directory


def test_readme_shows_the_two_set_up_commands() -> None:
    commands = [line.split("#")[0].strip() for line in readme_blocks("bash")[0].splitlines()]
    assert commands == ["make serve", "make test"]
    dry = subprocess.run(["make", "-n", "test"], cwd=REPO, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    for tool in ("ruff check", "ruff format --check", "mypy", "lint-imports", "pytest -q"):
        assert tool in dry.stdout, dry.stdout
    fast = subprocess.run(["make", "-n", "test-fast"], cwd=REPO, capture_output=True, text=True)
    assert fast.returncode == 0, fast.stderr
    assert 'pytest -q -m "not slow"' in fast.stdout and "mypy" not in fast.stdout


@pytest.mark.slow
def test_make_serve_then_the_readme_curl(exported_model: Path, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    (curl,) = [b.strip() for b in readme_blocks("bash") if b.strip().startswith("curl")]
    port, log_path = free_port(), tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLEPOSE_")}
    with log_path.open("w") as log:
        # STAMP= : the environment exists (this test runs in it); make must not reinstall it.
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "serve", "STAMP=",
             f"SERVE_ARGS=--model {exported_model} --port {port}"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, proc, log_path, TIMEOUT_S)
            answer = subprocess.run(
                ["bash", "-c", curl.replace(DEFAULT_URL, url)], cwd=REPO, capture_output=True,
                text=True, timeout=120,
            )  # fmt: skip
            assert answer.returncode == 0, answer.stderr
            body = json.loads(answer.stdout)
            assert len(body["persons"][0]["keypoints"]) == 17
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


@pytest.mark.slow
def test_readme_python_snippet(exported_model: Path, tmp_path: Path) -> None:
    (snippet,) = [b for b in readme_blocks("python") if "PoseEstimator" in b]
    assert len(snippet.strip().splitlines()) <= 6
    (name,) = SNIPPET_MODEL.findall(snippet)
    from simplepose.hub.registry import REGISTRY

    assert name in REGISTRY  # the name the README shows is a real registry entry
    image = "serving/demo_data/train2017/000000489520.jpg"
    (tmp_path / image).parent.mkdir(parents=True)
    shutil.copy(REPO / image, tmp_path / image)
    code = snippet.replace(f'"{name}"', repr(str(exported_model)))
    code += (
        "\nassert len(poses) >= 1 and poses.keypoints.shape[1:] == (17, 2), poses.keypoints.shape\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
        timeout=TIMEOUT_S,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "result.jpg").stat().st_size > 1000
