"""``simplepose serve`` as a real process on 127.0.0.1: readiness and graceful shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from localhost import free_port
from serving_helpers import encode, synthetic_bgr, wait_ready

STARTUP_TIMEOUT_S = 180  # model load + warm-up; slow when the machine is shared
HOLD_MS = 5_000  # --max-wait-ms: the batch waits this long, so requests are in flight at SIGTERM


@pytest.mark.slow
def test_sigterm_finishes_in_flight_requests(tiny_checkpoint: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLEPOSE_")}
    env["SIMPLEPOSE_MAX_WAIT_MS"] = str(HOLD_MS)  # settings come from the environment too
    env["SIMPLEPOSE_DETECTOR"] = "none"  # whole-image boxes: every request reaches the queue
    log = (tmp_path / "serve.log").open("w")
    cmd = [sys.executable, "-m", "simplepose.cli", "serve", "--model", str(tiny_checkpoint),
           "--port", str(port), "--max-batch", "4"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, tmp_path / "serve.log", STARTUP_TIMEOUT_S)
        data = encode(synthetic_bgr(), ".png")
        statuses: list[int] = []

        def call() -> None:
            # with a box: no detector run, so the requests reach the batch queue at once
            r = httpx.post(f"{base}/keypoints", files={"image": ("a.png", data, "image/png")},
                           data={"boxes": "[[10, 5, 60, 100]]"}, timeout=30)  # fmt: skip
            statuses.append(r.status_code)

        threads = [threading.Thread(target=call) for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + HOLD_MS / 2000
        while "simplepose_queue_depth 3.0" not in httpx.get(f"{base}/metrics").text:
            assert time.monotonic() < deadline, "requests did not reach the batch queue"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # all three are in flight, waiting for a batch
        for t in threads:
            t.join(30)
        assert statuses == [200, 200, 200]
        assert proc.wait(timeout=30) == 0  # a clean drain after SIGTERM is a clean exit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "serve.log").read_text()
    assert "inference executor drained" in text
