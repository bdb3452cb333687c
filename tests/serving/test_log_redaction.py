"""A key sent in the query string (``?api_key=``, ``?token=``, any ``sp_...`` value) never
reaches a log line: uvicorn's access log and WebSocket log, served for real on 127.0.0.1."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from serving_helpers import make_test_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from localhost import free_port  # noqa: E402

from simplepose.serving.middleware import REDACTED, redact_query  # noqa: E402

SECRET = "sp_" + "S3cr3tK3yS3cr3tK3yS3cr3tK3yS3cr3tK3yS3cr3t"


def test_redact_query_keeps_other_parameters() -> None:
    redacted = redact_query(f"decode=dark&api_key={SECRET}&Token=x&q={SECRET}".encode())
    assert SECRET.encode() not in redacted and b"x&" not in redacted
    assert redacted.startswith(b"decode=dark&api_key=" + REDACTED.encode())
    assert redact_query(b"decode=dark&smooth=true") == b"decode=dark&smooth=true"


@pytest.mark.slow  # a real uvicorn server
def test_uvicorn_logs_never_show_a_query_key(
    tiny_model, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from websockets.sync.client import connect

    from simplepose.serving.main import create_app

    app = create_app(make_test_settings(), model=tiny_model, device="CPU")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=True)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    caplog.set_level(logging.INFO)
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):  # uvicorn's own config may
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)  # have run earlier
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
        caplog.set_level(logging.INFO, logger=name)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        for query in (f"api_key={SECRET}", f"token={SECRET}", f"decode=dark&x={SECRET}"):
            assert httpx.get(f"{base}/healthz?{query}", timeout=10).status_code == 200
            assert httpx.get(f"{base}/v1/model?{query}", timeout=10).status_code == 200
        with connect(f"ws://127.0.0.1:{port}/keypoints/stream?api_key={SECRET}") as ws:
            assert '"hello"' in ws.recv(timeout=30)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")]
    assert any("/v1/model?" in line and REDACTED in line for line in lines), lines
    assert any("WebSocket /keypoints/stream?" in line for line in lines), lines
    assert not [line for line in lines if SECRET in line]
