"""Loopback helpers shared by the tests that start servers or msrun jobs."""

from __future__ import annotations

import contextlib
import functools
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def serve_directory(
    root: Path, requests: list[str] | None = None
) -> Iterator[tuple[str, list[str]]]:
    """A quiet HTTP server on 127.0.0.1 over ``root`` (a stand-in download site): yields its
    base URL and the list (``requests``, or a new one) of the paths it is asked for, in order."""
    requests = [] if requests is None else requests

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):  # noqa: N802 (http.server API)
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
