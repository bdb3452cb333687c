"""Loopback helpers shared by the tests that start servers or msrun jobs."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> bool:
    """Poll ``base``/readyz until 200; fail with the server's log if it exits or times out.
    Returns whether ``/healthz`` answered 200 while ``/readyz`` still said 503 (loading)."""
    deadline = time.monotonic() + timeout_s
    alive_while_loading = False
    while True:
        try:
            ready = httpx.get(f"{base}/readyz", timeout=1).status_code
            if ready == 200:
                return alive_while_loading
            alive = httpx.get(f"{base}/healthz", timeout=1).status_code
            alive_while_loading |= ready == 503 and alive == 200
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
