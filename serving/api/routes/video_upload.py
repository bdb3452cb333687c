"""``POST /keypoints/video``: a short clip in, per-frame persons with track ids out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from simplepose.serving.api.deps import PredictorDep, QuotaDep
from simplepose.serving.api.routes.keypoints import DecodeQuery, ScoreQuery
from simplepose.serving.http_errors import ServiceError
from simplepose.serving.schemas import VIDEO_ERROR_RESPONSES, VideoResponse
from simplepose.serving.tracking import make_tracker, track_video, video_limits

router = APIRouter(prefix="/keypoints", tags=["video"])

MAX_DETECT_EVERY = 1000
VideoFile = Annotated[
    UploadFile,
    File(description="a short video (MP4, WebM, MKV, AVI, ...; H.264, HEVC, VP8/9, AV1, MPEG-4)"),
]
DetectEveryQuery = Annotated[
    int | None,
    Query(
        ge=1, le=MAX_DETECT_EVERY,
        description="run the person detector on every N-th frame (optical-flow boxes in "
        "between); default from the model config (track.detect_every)",
    ),
]  # fmt: skip
SmoothQuery = Annotated[
    bool | None,
    Query(description="one-euro smoothing of the keypoints; default from track.smoothing"),
]


@router.post(
    "/video",
    response_model=VideoResponse,
    summary="track persons through a short video: keypoints and a track id per person and frame",
    responses=VIDEO_ERROR_RESPONSES,
)
async def video(
    request: Request,
    predictor: PredictorDep,
    quota: QuotaDep,
    video: VideoFile,
    decode: DecodeQuery = None,
    score_threshold: ScoreQuery = 0.0,
    detect_every: DetectEveryQuery = None,
    smooth: SmoothQuery = None,
) -> VideoResponse:
    slots = request.app.state.video_slots
    caller = quota.caller.bucket
    refused = slots.try_acquire(caller)
    retry = {"Retry-After": str(predictor.settings.retry_after_s)}
    if refused == "caller":
        raise ServiceError(
            429, "too_many_videos",
            f"this key has {slots.per_caller} videos in progress (its share); retry later", retry,
        )  # fmt: skip
    if refused:
        raise ServiceError(503, "busy", f"{slots.limit} videos are being processed; retry later",
                           retry)  # fmt: skip
    try:
        data = await video.read()
        tracker = make_tracker(predictor, decode, detect_every, smooth)
        limits = video_limits(predictor.settings)
        result = await run_in_threadpool(
            track_video, tracker, data, limits, score_threshold, quota.spend_frames
        )
    finally:
        slots.release(caller)
    return VideoResponse.model_validate(
        {
            "model": predictor.summary,
            "keypoint_names": list(predictor.info.keypoint_names),
            "skeleton": list(predictor.info.keypoints.skeleton),
            **result,
        }
    )
