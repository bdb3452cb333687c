"""The WebSocket limits of ``simplepose serve``'s uvicorn: a message over the frame limit is
refused from its header (close 1009) instead of being read, and no compression is negotiated
(a small deflated message cannot inflate into megabytes on the event loop)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
from serving_helpers import make_test_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from localhost import free_port  # noqa: E402

FRAME_LIMIT = 50_000
pytestmark = pytest.mark.slow  # a real uvicorn server


@pytest.fixture(scope="module")
def served(tiny_model):
    import uvicorn

    from simplepose.serving.main import create_app
    from simplepose.serving.serve_cli import uvicorn_config

    settings = make_test_settings(port=free_port(), stream_max_frame_bytes=FRAME_LIMIT,
                                  log_level="warning")  # fmt: skip
    server = uvicorn.Server(uvicorn_config(create_app(settings, model=tiny_model), settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"ws://127.0.0.1:{settings.port}/keypoints/stream"
    server.should_exit = True
    thread.join(timeout=30)


def test_over_the_limit_is_closed_1009_and_under_it_is_an_error_message(served: str) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(served) as ws:  # the client offers permessage-deflate
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        ws.send(b"\xff\xd8" + bytes(FRAME_LIMIT + 1000))  # over the frame limit, within margin
        assert json.loads(ws.recv(timeout=30))["code"] == "upload_too_large"
        ws.send(b"\xff\xd8" + bytes(1 << 20))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
