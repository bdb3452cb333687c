"""``POST /keypoints/video`` and the ``/keypoints/stream`` WebSocket: results, limits, bad input."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import numpy as np
import pytest
from serving_helpers import encode, make_test_settings, synthetic_bgr
from starlette.websockets import WebSocketDisconnect

from simplepose.video.frames import VideoWriter

W, H = 160, 120
STREAM_FPS = 2.0  # the stream's rate limit in these tests; frames are sent 1 / 1.8 s apart
GAP_S = 1.0 / 1.8


def moving_frames(n: int) -> list[np.ndarray]:
    """The stick figure shifting 3 px right per frame."""
    base = synthetic_bgr(W, H)
    return [np.roll(base, 3 * i, axis=1) for i in range(n)]


def flat_frames(n: int, width: int = W, height: int = H) -> list[np.ndarray]:
    """Plain frames: they compress to little, whatever the codec."""
    return [np.full((height, width, 3), 10 * i, np.uint8) for i in range(n)]


def video_bytes(frames: list[np.ndarray], codec: str = "mpeg4", fmt: str = "mp4") -> bytes:
    buf = io.BytesIO()
    pix_fmt = "yuv444p" if codec == "ffv1" else "yuv420p"
    with VideoWriter(buf, 10, codec, fmt, pix_fmt) as writer:
        for img in frames:
            writer.write(img)
    return buf.getvalue()


@pytest.fixture(scope="module")
def vclient(tiny_model) -> Iterator:
    from fastapi.testclient import TestClient

    from simplepose.serving.main import create_app

    settings = make_test_settings(
        video_max_bytes=60_000, video_max_frames=8, video_max_seconds=5.0,
        video_max_pixels=W * H, stream_max_connections=1, stream_max_fps=STREAM_FPS,
        stream_max_frame_bytes=50_000,
    )  # fmt: skip
    with TestClient(create_app(settings, model=tiny_model, device="CPU")) as c:
        yield c


def post_video(client, data: bytes, **params):
    files = {"video": ("clip.mp4", data, "video/mp4")}
    return client.post("/keypoints/video", files=files, params=params)


def test_video_gives_tracked_persons_per_frame(vclient) -> None:
    r = post_video(vclient, video_bytes(moving_frames(5)), detect_every=2, smooth=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["video"] == {"width": W, "height": H, "fps": 10.0, "frames": 5, "codec": "mpeg4"}
    assert [f["frame"] for f in body["frames"]] == [0, 1, 2, 3, 4]
    assert [f["time"] for f in body["frames"]] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    # The whole-image detector box is the same every frame: one track throughout.
    assert {p["track_id"] for f in body["frames"] for p in f["persons"]} == {1}
    assert body["tracks"] == 1 and len(body["frames"][0]["persons"][0]["keypoints"]) == 17


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (lambda: b"", 400, "empty_video"),
        (lambda: b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 400, 400, "invalid_video"),
        (lambda: video_bytes(flat_frames(2, W + 40, H)), 413, "too_many_pixels"),
        (lambda: video_bytes(flat_frames(3), "ffv1", "matroska"), 415, "unsupported_codec"),
        (lambda: video_bytes(moving_frames(9)), 422, "too_many_frames"),
        (lambda: video_bytes(moving_frames(3))[:900], 400, "invalid_video"),
        (lambda: np.random.default_rng(0).bytes(70_000), 413, "too_large"),
    ],
)
def test_bad_videos_are_clear_4xx_and_the_service_stays_up(vclient, make, status, code) -> None:
    r = post_video(vclient, make())
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert post_video(vclient, video_bytes(moving_frames(2))).status_code == 200


def test_video_options_are_validated(vclient) -> None:
    r = post_video(vclient, video_bytes(moving_frames(2)), detect_every=0)
    assert r.status_code == 422 and "detect_every" in r.json()["error"]["message"]


def test_stream_tracks_frames_and_survives_bad_ones(vclient) -> None:
    frames = [encode(f, ".jpg") for f in moving_frames(3)]
    with vclient.websocket_connect("/keypoints/stream?smooth=true") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["protocol"] == 1
        assert len(hello["keypoint_names"]) == 17 and hello["limits"]["max_fps"] == STREAM_FPS
        answers = []
        for data in [frames[0], b"not an image", frames[1], b"", frames[2]]:
            ws.send_bytes(data)
            answers.append(ws.receive_json())
            time.sleep(GAP_S)
        assert [a["type"] for a in answers] == ["frame", "error", "frame", "error", "frame"]
        assert [a["frame"] for a in answers] == [0, 1, 2, 3, 4]
        assert answers[1]["code"] == "invalid_image" and answers[3]["code"] == "empty_image"
        assert [[p["track_id"] for p in a["persons"]] for a in answers[::2]] == [[1], [1], [1]]
        assert answers[0]["image"] == {"width": W, "height": H}
        ws.send_text("{not json")
        assert ws.receive_json()["code"] == "bad_message"
        ws.send_text('{"type": "reset"}')
        assert ws.receive_json() == {"type": "reset"}
        time.sleep(GAP_S)
        ws.send_bytes(frames[0])
        assert [p["track_id"] for p in ws.receive_json()["persons"]] == [1]


def test_stream_limits_rate_size_pixels_and_connections(vclient, monkeypatch) -> None:
    frame = encode(moving_frames(1)[0], ".jpg")
    # 1 frame per 10 s: the second frame is too early however slow the machine is
    monkeypatch.setattr(vclient.app.state.predictor.settings, "stream_max_fps", 0.1)
    with vclient.websocket_connect("/keypoints/stream") as ws:
        ws.receive_json()
        ws.send_bytes(frame)
        ws.send_bytes(frame)
        assert ws.receive_json()["type"] == "frame"
        limited = ws.receive_json()
        assert limited["code"] == "rate_limited" and "0.1 per second" in limited["message"]
        monkeypatch.undo()
        time.sleep(GAP_S)
        ws.send_bytes(encode(flat_frames(1, W * 2, H)[0], ".png"))
        assert ws.receive_json()["code"] == "too_many_pixels"
        ws.send_bytes(b"\xff\xd8" + bytes(60_000))
        assert ws.receive_json()["code"] == "upload_too_large"
        with vclient.websocket_connect("/keypoints/stream") as second:
            refused = second.receive_json()
            assert refused["code"] == "too_many_connections"
            with pytest.raises(WebSocketDisconnect) as closed:
                second.receive_json()
            assert closed.value.code == 1013
    with vclient.websocket_connect("/keypoints/stream") as again:  # the slot was released
        assert again.receive_json()["type"] == "hello"
