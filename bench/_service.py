"""Helpers for the service benches: start ``simplepose serve`` on 127.0.0.1, wait, stop; post
``/keypoints`` requests from concurrent clients; the random-weight models they serve."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

R50_PRESET = "res50_256x192"


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


def random_checkpoint(path: Path, preset: str, overrides: Sequence[str] = ()) -> Path:
    """A pose checkpoint of ``preset`` (plus ``overrides``) with random weights (seed 0) at
    ``path``, written once: what the speed benches serve, whose speed does not depend on the
    weights."""
    if path.is_file():
        return path
    import mindspore as ms

    from simplepose.config.loading import load_config
    from simplepose.network.checkpoint import save_pose_checkpoint
    from simplepose.network.pose_net import PoseResNet

    config = load_config(preset, list(overrides))
    ms.set_seed(0)
    save_pose_checkpoint(PoseResNet(config.model), path, config, {"note": "random weights"})
    return path


def small_checkpoint(workdir: Path) -> Path:
    """A random-weight ResNet-18 at 96x64 input: the HTTP layer is what these benches test."""
    small = ["model.input_size=[64,96]", "model.heatmap_size=[16,24]", "model.deconv_channels=32"]
    return random_checkpoint(workdir / "r18_96x64_random.ckpt", "res18_128x96", small)


def preset_tag(preset: str) -> str:
    """A preset's short name in work-directory file names: ``r50`` for ``R50_PRESET``."""
    return "r50" if preset == R50_PRESET else preset


def preset_random_checkpoint(workdir: Path, preset: str = R50_PRESET) -> Path:
    """A random-weight checkpoint of ``preset`` (the speed benches serve ``R50_PRESET``; smaller
    presets are for quick runs, as the bench smoke test makes)."""
    return random_checkpoint(workdir / f"{preset_tag(preset)}_random.ckpt", preset)


@dataclass(frozen=True)
class Answer:
    """One 200 answer of ``POST /keypoints``: its latency seen by the client and its body."""

    latency_ms: float
    body: dict[str, Any]


def multipart_body(image: bytes, boxes: str | None) -> tuple[bytes, str]:
    """The ``POST /keypoints`` form (``image`` file, optional ``boxes`` field) as bytes and its
    content type, encoded once by httpx so the request loop only sends bytes."""
    form = {} if boxes is None else {"boxes": boxes}
    request = httpx.Request(
        "POST", "http://127.0.0.1/keypoints", files={"image": ("i.jpg", image, "image/jpeg")},
        data=form,
    )  # fmt: skip
    return request.read(), request.headers["content-type"]


def post_keypoints(
    url: str, payloads: Sequence[tuple[bytes, str | None]], clients: int, total: int
) -> tuple[float, list[Answer]]:
    """``total`` ``POST /keypoints`` requests from ``clients`` threads, cycling through
    ``payloads`` (JPEG bytes, boxes JSON or None for none); returns (seconds, the answers in
    completion order). Any answer other than 200 raises RuntimeError once all are done.

    The clients share the service's cores, so they must cost little: each keeps one
    ``http.client`` connection and sends bodies encoded before the clock starts. Measured
    against the service at 52 persons/s: 0.10 ms of client CPU per person, where an
    ``httpx.Client`` posting the files took 1.3 ms (CPU the bare-runtime rate never pays).
    """
    bodies = [multipart_body(image, boxes) for image, boxes in payloads]
    parts = urlsplit(url)
    answers: list[Answer] = []
    errors: list[str] = []
    counter = iter(range(total))
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=600)
        try:
            while True:
                with lock:
                    k = next(counter, None)
                if k is None:
                    return
                body, content_type = bodies[k % len(bodies)]
                t0 = time.perf_counter()
                conn.request(
                    "POST", "/keypoints", body=body, headers={"Content-Type": content_type}
                )
                response = conn.getresponse()
                data = response.read()
                dt = (time.perf_counter() - t0) * 1000
                with lock:
                    if response.status != 200:
                        errors.append(f"{response.status} {data[:200]!r}")
                    else:
                        answers.append(Answer(dt, json.loads(data)))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return seconds, answers
