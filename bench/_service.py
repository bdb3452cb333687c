"""Helpers for the service benches: start ``simplepose serve`` on 127.0.0.1, wait, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    """``simplepose serve --model MODEL`` in a subprocess; a context manager."""

    def __init__(
        self, model: Path, log: Path, extra_args: list[str], env: dict[str, str] | None = None
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLEPOSE_")}
        self.env = {**clean, **(env or {})}
        self.cmd = [sys.executable, "-m", "simplepose.cli", "serve", "--model", str(model),
                    "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
                    *extra_args]  # fmt: skip
        self.log_path = log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ServiceProcess:
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError("service did not become ready in 300 s")

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else -1

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def small_checkpoint(workdir: Path) -> Path:
    """A random-weight ResNet-18 at 96x64 input: the HTTP layer is what these benches test."""
    path = workdir / "r18_96x64_random.ckpt"
    if path.is_file():
        return path
    import mindspore as ms

    from simplepose.config_loading import load_config
    from simplepose.network.checkpoint import save_pose_checkpoint
    from simplepose.network.pose_net import PoseResNet

    config = load_config(
        "res18_128x96",
        ["model.input_size=[64,96]", "model.heatmap_size=[16,24]", "model.deconv_channels=32"],
    )
    ms.set_seed(0)
    save_pose_checkpoint(PoseResNet(config.model), path, config, {"note": "random weights"})
    return path
