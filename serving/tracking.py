"""Tracking in the service: one ``TrackingPipeline`` per video request or stream connection,
all sharing the app's pipelines, detector and batching executor."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from simplepose.pose.geometry import BoxError
from simplepose.serving.http_errors import ServiceError
from simplepose.serving.predictor import KeypointPredictor
from simplepose.serving.results import persons_to_json
from simplepose.serving.settings import Settings
from simplepose.video.frames import COMMON_CODECS, Frame, VideoError, VideoLimits, open_frames
from simplepose.video.track_pipeline import TrackingPipeline
from simplepose.video.tracker import TrackedFrame

# VideoError code -> HTTP status: limits are 413 (size) / 422 (length), unusable input 400/415.
VIDEO_ERROR_STATUS = {
    "too_large": 413,
    "too_many_pixels": 413,
    "too_many_frames": 422,
    "too_long": 422,
    "invalid_video": 400,
    "no_video_stream": 400,
    "truncated": 400,
    "empty_video": 400,
    "unsupported_codec": 415,
    "unsupported_container": 415,
}


class Slots:
    """Non-blocking counters of things in progress, in total and per caller (used from the
    event loop only): one caller holding ``per_caller`` slots cannot take the rest."""

    def __init__(self, limit: int, per_caller: int | None = None):
        self.limit = limit
        self.per_caller = min(limit, per_caller or limit)
        self.active = 0
        self.held: dict[str, int] = {}

    def try_acquire(self, caller: str = "") -> str | None:
        """None when a slot was taken, else why not: ``"caller"`` (this caller holds its
        share) or ``"all"`` (every slot is taken)."""
        if self.held.get(caller, 0) >= self.per_caller:
            return "caller"
        if self.active >= self.limit:
            return "all"
        self.active += 1
        self.held[caller] = self.held.get(caller, 0) + 1
        return None

    def release(self, caller: str = "") -> None:
        self.active -= 1
        left = self.held.get(caller, 0) - 1
        if left > 0:
            self.held[caller] = left
        else:
            self.held.pop(caller, None)


def make_tracker(
    predictor: KeypointPredictor,
    decode: str | None = None,
    detect_every: int | None = None,
    smooth: bool | None = None,
) -> TrackingPipeline:
    """A tracker on the shared model; unset options come from the model config's ``track``."""
    base = predictor.info.config.track
    config = dataclasses.replace(
        base,
        detect_every=detect_every or base.detect_every,
        smoothing=base.smoothing if smooth is None else smooth,
    )
    pipeline = predictor.pipelines[decode or predictor.default_decode]
    return TrackingPipeline(pipeline, predictor.detect, config, predictor.submit)


def video_limits(settings: Settings) -> VideoLimits:
    return VideoLimits(
        max_bytes=settings.video_max_bytes,
        max_frames=settings.video_max_frames,
        max_seconds=settings.video_max_seconds,
        max_pixels=settings.video_max_pixels,
        codecs=COMMON_CODECS,
    )


def video_error(exc: VideoError) -> ServiceError:
    return ServiceError(VIDEO_ERROR_STATUS.get(exc.code, 400), exc.code, exc.message)


def frame_json(tracked: TrackedFrame, min_score: float = 0.0) -> dict[str, Any]:
    return {
        "frame": tracked.index,
        "time": round(tracked.time, 6),
        "persons": persons_to_json(tracked.persons, min_score, tracked.track_ids),
    }


def _metered(frames: Iterable[Frame], spend_frames: Callable[[int], None]) -> Iterator[Frame]:
    for frame in frames:
        spend_frames(1)  # raises the caller's 429 when their frame budget runs out
        yield frame


def track_video(
    tracker: TrackingPipeline,
    data: bytes,
    limits: VideoLimits,
    min_score: float,
    spend_frames: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Decode and track a whole clip (blocking: run it in a worker thread). ``spend_frames``
    is called with 1 for each decoded frame, before it is tracked (the caller's quota)."""
    start = time.perf_counter()
    try:
        source = open_frames(data, limits)
        metered = source if spend_frames is None else _metered(source, spend_frames)
        frames = [frame_json(t, min_score) for t in tracker.run(metered)]
    except VideoError as exc:
        raise video_error(exc) from exc
    except BoxError as exc:  # a detector box outside the frame: a detector bug, said plainly
        raise ServiceError(422, "invalid_boxes", str(exc)) from exc
    info = source.info
    ids = {p["track_id"] for f in frames for p in f["persons"]}
    return {
        "video": {
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "frames": len(frames),
            "codec": info.codec,
        },
        "frames": frames,
        "tracks": len(ids),
        "timing_ms": {"total": (time.perf_counter() - start) * 1000.0},
    }
