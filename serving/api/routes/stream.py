"""``/keypoints/stream``: a WebSocket for live video, one tracker per connection.

The message protocol is documented in docs/video.md: a ``hello`` message, then one binary
message (an image) in and one JSON message (``frame`` or ``error``) out per frame, in order.
A bad frame gets an ``error`` message and leaves the connection and the tracker as they were.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketState

from simplepose.pose.geometry import BoxError
from simplepose.serving.access import accepted_subprotocol
from simplepose.serving.api.deps import QuotaDep
from simplepose.serving.api.routes.keypoints import DecodeQuery, ScoreQuery
from simplepose.serving.api.routes.video_upload import DetectEveryQuery, SmoothQuery
from simplepose.serving.http_errors import ServiceError
from simplepose.serving.images import decode_image
from simplepose.serving.predictor import KeypointPredictor
from simplepose.serving.quota import Quota
from simplepose.serving.ratelimit import REQUESTS
from simplepose.serving.tracking import frame_json, make_tracker
from simplepose.video.frames import Frame
from simplepose.video.track_pipeline import TrackingPipeline

log = logging.getLogger(__name__)
router = APIRouter(prefix="/keypoints", tags=["video"])

PROTOCOL_VERSION = 1
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_INTERNAL, CLOSE_TRY_LATER = 1000, 1001, 1011, 1013
# Text messages are commands of a few bytes: longer ones are refused unparsed, so parsing on
# the event loop stays bounded (microseconds) and nesting cannot go deep.
MAX_TEXT_CHARS = 1024
COMMAND_HELP = 'text messages must be JSON commands ({"type": "reset"}); send frames as binary'


def _error(frame: int | None, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "frame": frame, "code": code, "message": message}


class _Session:
    """One connection's tracker, frame counter and rate limit."""

    def __init__(
        self, ws: WebSocket, predictor: KeypointPredictor, quota: Quota, options: dict[str, Any]
    ):
        self.ws = ws
        self.predictor = predictor
        self.quota = quota  # the caller's frames/s across all their connections
        self.options = options
        self.tracker = self._new_tracker()
        self.frames = 0  # binary messages received
        self.started = time.monotonic()
        self.last_accepted = -float("inf")
        self.last_tracked = self.started  # the idle timer: only tracked frames reset it

    def _new_tracker(self) -> TrackingPipeline:
        o = self.options
        return make_tracker(self.predictor, o["decode"], o["detect_every"], o["smooth"])

    def hello(self) -> dict[str, Any]:
        s = self.predictor.settings
        track = self.tracker.config
        return {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "model": self.predictor.summary,
            "keypoint_names": list(self.predictor.info.keypoint_names),
            "skeleton": [list(limb) for limb in self.predictor.info.keypoints.skeleton],
            "track": {"detect_every": track.detect_every, "smoothing": track.smoothing},
            "limits": {
                "max_fps": s.stream_max_fps,
                "max_frame_bytes": s.stream_max_frame_bytes,
                "max_pixels": s.video_max_pixels,
                "idle_timeout_s": s.stream_idle_timeout_s,
            },
        }

    async def on_frame(self, data: bytes) -> dict[str, Any]:
        s = self.predictor.settings
        index = self.frames
        self.frames += 1
        now = time.monotonic()
        if now - self.last_accepted < 1.0 / s.stream_max_fps:
            return _error(
                index, "rate_limited",
                f"frames may arrive at most {s.stream_max_fps:g} per second; frame skipped",
            )  # fmt: skip
        start = time.perf_counter()
        try:
            self.quota.spend_frames(1)
            image = await run_in_threadpool(
                decode_image, data, None, s.stream_max_frame_bytes, s.video_max_pixels
            )
            decoded = time.perf_counter()
            frame = Frame(index, now - self.started, image.bgr)
            tracked = await run_in_threadpool(self.tracker.step, frame)
        except ServiceError as exc:
            return _error(index, exc.code, exc.message)
        except BoxError as exc:  # a detector box outside the frame: said plainly, stream stays
            return _error(index, "invalid_boxes", str(exc))
        self.last_accepted = self.last_tracked = now
        end = time.perf_counter()
        return {
            "type": "frame",
            **frame_json(tracked, self.options["score_threshold"]),
            "frame": index,  # counts the client's binary messages, bad ones included
            "image": {"width": image.width, "height": image.height},
            "timing_ms": {
                "decode_image": (decoded - start) * 1000.0,
                "track": (end - decoded) * 1000.0,
                "total": (end - start) * 1000.0,
            },
        }

    def on_text(self, text: str) -> dict[str, Any]:
        """A command; every text message takes a request token of the caller (429 buckets)."""
        try:
            self.quota.spend(REQUESTS, 1)
        except ServiceError as exc:
            return _error(None, exc.code, exc.message)
        if len(text) > MAX_TEXT_CHARS:
            return _error(
                None, "bad_message",
                f"a text message of {len(text)} characters; commands are at most "
                f"{MAX_TEXT_CHARS}. {COMMAND_HELP}",
            )  # fmt: skip
        try:
            command = json.loads(text)
        except (ValueError, RecursionError):
            command = None
        if isinstance(command, dict) and command.get("type") == "reset":
            self.tracker = self._new_tracker()
            return {"type": "reset"}
        return _error(None, "bad_message", COMMAND_HELP)


@router.websocket("/stream")
async def stream(
    ws: WebSocket,
    quota: QuotaDep,
    decode: DecodeQuery = None,
    score_threshold: ScoreQuery = 0.0,
    detect_every: DetectEveryQuery = None,
    smooth: SmoothQuery = None,
) -> None:
    """Live tracking: JPEG/PNG/WebP/BMP frames in, tracked persons out (docs/video.md)."""
    await ws.accept(subprotocol=accepted_subprotocol(ws.scope))  # key: docs/access.md
    predictor = getattr(ws.app.state, "predictor", None)
    if predictor is None or not predictor.ready:
        await ws.send_json(_error(None, "not_ready", "the model is still loading"))
        await ws.close(CLOSE_TRY_LATER, "not ready")
        return
    slots = ws.app.state.stream_slots
    caller = quota.caller.bucket
    refused = slots.try_acquire(caller)
    if refused:
        message = (
            f"this key holds {slots.per_caller} stream connections (its share); retry later"
            if refused == "caller"
            else f"all {slots.limit} stream connections are in use; retry later"
        )
        await ws.send_json(_error(None, "too_many_connections", message))
        await ws.close(CLOSE_TRY_LATER, "too many connections")
        return
    options = {"decode": decode, "detect_every": detect_every, "smooth": smooth}
    session = _Session(ws, predictor, quota, {**options, "score_threshold": score_threshold})
    try:
        await ws.send_json(session.hello())
        await _serve(session, predictor.settings.stream_idle_timeout_s)
    except WebSocketDisconnect:
        pass
    except Exception:  # logged; the client gets 1011, the service stays up
        log.exception("stream failed")
        if ws.client_state == WebSocketState.CONNECTED:
            await ws.close(CLOSE_INTERNAL, "internal error")
    finally:
        slots.release(caller)


async def _serve(session: _Session, idle_timeout: float) -> None:
    """Answer messages until the client leaves or sends no usable frame for ``idle_timeout``
    (text messages and pings do not keep a connection, and its slot, alive)."""
    ws = session.ws
    while True:
        left = session.last_tracked + idle_timeout - time.monotonic()
        try:
            if left <= 0:
                raise asyncio.TimeoutError
            message = await asyncio.wait_for(ws.receive(), left)
        except asyncio.TimeoutError:
            await ws.close(CLOSE_NORMAL, "idle")
            return
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            answer = await session.on_frame(message["bytes"])
        else:
            answer = session.on_text(message.get("text") or "")
        await ws.send_json(answer)
