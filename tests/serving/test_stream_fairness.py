"""Stream and video slots are shared fairly between keys, idle means no frames, and every
hostile WebSocket text message gets its error frame (never a 1011 close)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from serving_helpers import make_test_settings
from starlette.websockets import WebSocketDisconnect

from simplepose.serving.access import WS_KEY_PROTOCOL_PREFIX, WS_SUBPROTOCOL
from simplepose.serving.api.routes import stream as stream_route
from simplepose.serving.keyfile import create_key
from simplepose.serving.ratelimit import REQUESTS, BucketSpec
from simplepose.serving.tracking import Slots

IDLE_S = 1.5


@dataclass
class Service:
    client: TestClient
    app: FastAPI
    keys: dict[str, str]

    def stream(self, name: str):
        protocols = [WS_SUBPROTOCOL, WS_KEY_PROTOCOL_PREFIX + self.keys[name]]
        return self.client.websocket_connect("/keypoints/stream", subprotocols=protocols)

    def video(self, name: str, data: bytes = b"\x00\x00\x00\x18ftypisom" + bytes(64)):
        files = {"video": ("clip.mp4", data, "video/mp4")}
        headers = {"Authorization": f"Bearer {self.keys[name]}"}
        return self.client.post("/keypoints/video", files=files, headers=headers)


@pytest.fixture(scope="module")
def service(tiny_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    from simplepose.serving.main import create_app

    keys_file = tmp_path_factory.mktemp("keys") / "api_keys"
    keys = {name: create_key(keys_file, name) for name in ("alice", "carol", "dave")}
    settings = make_test_settings(
        host="0.0.0.0", api_keys_file=keys_file, keys_reload_s=0.0,
        stream_max_connections=4, stream_max_connections_per_key=2,
        video_max_requests=2, video_max_requests_per_key=1, stream_idle_timeout_s=IDLE_S,
    )  # fmt: skip
    app = create_app(settings, model=tiny_model, device="CPU")
    with TestClient(app) as client:
        yield Service(client, app, keys)


def _refusal(ws) -> tuple[dict, int]:
    answer = ws.receive_json()
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return answer, closed.value.code


def test_one_key_holding_its_stream_cap_cannot_stop_another(service: Service) -> None:
    with ExitStack() as held:
        for _ in range(2):  # alice takes her share
            ws = held.enter_context(service.stream("alice"))
            assert ws.receive_json()["type"] == "hello"
        with service.stream("alice") as third:
            answer, code = _refusal(third)
        assert answer["code"] == "too_many_connections" and "share" in answer["message"]
        assert code == 1013
        for _ in range(2):  # carol still gets hers
            ws = held.enter_context(service.stream("carol"))
            assert ws.receive_json()["type"] == "hello"
        with service.stream("dave") as late:  # now every slot is taken
            answer, code = _refusal(late)
        assert "all 4" in answer["message"] and code == 1013
    with service.stream("alice") as again:  # every slot was released
        assert again.receive_json()["type"] == "hello"
    assert service.app.state.stream_slots.held == {}


def test_one_key_with_a_video_in_progress_cannot_stop_another(service: Service) -> None:
    slots = service.app.state.video_slots
    assert slots.try_acquire("key:alice") is None  # alice's video is in progress
    try:
        r = service.video("alice")
        assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_videos"
        assert r.headers["Retry-After"]
        r = service.video("carol")  # carol's upload is looked at (and refused as corrupt)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_video"
    finally:
        slots.release("key:alice")
    assert service.video("alice").status_code == 400


def test_slots_count_per_caller_and_in_total() -> None:
    slots = Slots(3, per_caller=2)
    assert [slots.try_acquire("a") for _ in range(3)] == [None, None, "caller"]
    assert slots.try_acquire("b") is None and slots.try_acquire("c") == "all"
    slots.release("a")
    assert slots.try_acquire("c") is None
    assert Slots(2, per_caller=5).per_caller == 2  # never more than the total


def test_text_messages_do_not_keep_a_stream_alive(service: Service) -> None:
    """Idle means no frames: pings and commands every 0.3 s still end in an idle close."""
    start = time.monotonic()
    with service.stream("dave") as ws:
        assert ws.receive_json()["type"] == "hello"
        with pytest.raises(WebSocketDisconnect) as closed:
            while time.monotonic() - start < 10 * IDLE_S:
                ws.send_text('{"type": "ping"}')
                assert ws.receive_json()["code"] == "bad_message"
                time.sleep(0.3)
        assert closed.value.code == 1000
    assert time.monotonic() - start < 5 * IDLE_S


@pytest.mark.parametrize(
    "text",
    [
        "x" * (10 << 20),  # 10 MB
        "[" * 100_000,  # deep nesting, over the size cap
        '{"type": "x", "a": ' + "[" * 400 + "]" * 400 + "}",  # deep, under the cap
        "\u0000\u202e{}",
        '{"type": 1e999999}',
        '{"type": ' + "9" * 900 + "}",
        "",
    ],
)
def test_every_hostile_text_message_gets_an_error_frame(service: Service, text: str) -> None:
    with service.stream("carol") as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_text(text)
        answer = ws.receive_json()
        assert answer["type"] == "error" and answer["code"] == "bad_message"
        ws.send_text('{"type": "reset"}')  # the connection is still there
        assert ws.receive_json() == {"type": "reset"}


def test_deep_nesting_within_any_cap_is_an_error_frame(service: Service, monkeypatch) -> None:
    """Depth-safe even if the size cap is raised: RecursionError is a bad message."""
    monkeypatch.setattr(stream_route, "MAX_TEXT_CHARS", 1 << 20)
    with service.stream("carol") as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_text("[" * 200_000 + "]" * 200_000)
        assert ws.receive_json()["code"] == "bad_message"


def test_text_messages_spend_the_request_bucket(service: Service, monkeypatch) -> None:
    limiter = service.app.state.access.limiter
    monkeypatch.setitem(limiter.specs, REQUESTS, BucketSpec(rate=0.001, burst=3))
    with service.stream("dave") as ws:  # the handshake takes the first token
        assert ws.receive_json()["type"] == "hello"
        answers = []
        for _ in range(3):
            ws.send_text('{"type": "reset"}')
            answers.append(ws.receive_json())
        assert answers[:2] == [{"type": "reset"}] * 2
        assert answers[2]["type"] == "error" and answers[2]["code"] == "rate_limited"


def test_sliver_frames_are_tracked_not_an_internal_error(service: Service) -> None:
    """A 1-pixel-high frame after another (the fuzzer's find: phase correlation asserted)."""
    import cv2
    import numpy as np

    sliver = cv2.imencode(".png", np.full((1, 64, 3), 128, np.uint8))[1].tobytes()
    with service.stream("carol") as ws:
        assert ws.receive_json()["type"] == "hello"
        for _ in range(3):
            ws.send_bytes(sliver)
            assert ws.receive_json()["type"] == "frame"
            time.sleep(0.1)  # the stream's frame rate (15/s)
