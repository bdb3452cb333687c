"""Request/response models of the HTTP API (they are what ``/docs`` and ``/openapi.json`` show)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from simplepose.pose.codec import DECODE_METHODS

DecodeMethod = Literal[DECODE_METHODS]  # type: ignore[valid-type]  # the core's list, not a copy


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. invalid_boxes")
    message: str = Field(description="what was wrong, for a human")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ModelSummary(BaseModel):
    """Which model produced a response."""

    name: str = Field(description="preset / config name, e.g. res50_256x192")
    format: str = Field(description="mindir, onnx or checkpoint")
    input_size: tuple[int, int] = Field(description="network input (w, h) in pixels")
    flip_fused: bool = Field(description="flip test inside the graph")
    demo: bool = Field(description="true for the small demo model: not for real use")
    device: str = Field(description="CPU or Ascend")
    runtime: str = Field("mindspore", description="mindspore or onnxruntime")
    backend: str = Field(
        "mindspore-dynamic", description="mindspore-dynamic|-buckets, onnxruntime[-int8]"
    )
    precision: str = Field("fp32", description="fp32 or int8")
    batch_sizes: list[int] | None = Field(
        None, description="static-shape buckets calls are padded to (null: any batch size)"
    )


class DetectorSummary(BaseModel):
    """Where the person boxes of a response came from."""

    name: str = Field(
        description="client (boxes sent with the request), none (whole image), hog, or the "
        "detector's registry name / file"
    )
    label: str = Field(
        examples=["rtmdet-nano-person (onnxruntime CPU)"],
        description="what ran and, for a fallback, why",
    )
    fallback: bool = Field(
        description="true when no real detector runs: hog, or none standing in for an "
        "unavailable default detector"
    )
    score_threshold: float | None = Field(None, description="boxes below this score dropped")
    nms_iou: float | None = Field(None, description="NMS IoU threshold of the person boxes")
    max_persons: int | None = Field(None, description="most person boxes kept per image")


class ImageSize(BaseModel):
    width: int
    height: int


class Person(BaseModel):
    bbox: tuple[float, float, float, float] = Field(
        description="[x, y, w, h] in image pixels, as used for the crop (clipped to the image)"
    )
    bbox_score: float = Field(
        description="the detector's score of the box, or the score sent with it (1.0 when none)"
    )
    score: float = Field(description="bbox_score x mean of the keypoint scores above 0.2")
    keypoints: list[tuple[float, float, float]] = Field(
        description="[x, y, score] per keypoint, in the order of keypoint_names"
    )


class Timing(BaseModel):
    decode_image: float
    detect: float = Field(description="person detection (0 when boxes were sent), with queueing")
    preprocess: float
    inference: float = Field(description="queueing for the device plus the batched model call")
    postprocess: float
    total: float


class KeypointsResponse(BaseModel):
    model: ModelSummary
    detector: DetectorSummary
    image: ImageSize
    keypoint_names: list[str]
    skeleton: list[tuple[int, int]] = Field(
        description="limbs as pairs of 0-based indices into keypoint_names"
    )
    persons: list[Person] = Field(description="sorted by score, best first")
    timing_ms: Timing


class TrackedPerson(Person):
    track_id: int = Field(description="the same person keeps its id across frames (from 1)")


class VideoFrameResult(BaseModel):
    frame: int = Field(description="0-based frame index")
    time: float = Field(description="seconds from the start of the video")
    persons: list[TrackedPerson] = Field(description="sorted by score, best first")


class VideoInfoResponse(BaseModel):
    width: int
    height: int
    fps: float
    frames: int = Field(description="frames decoded and tracked")
    codec: str


class VideoTiming(BaseModel):
    total: float


class VideoResponse(BaseModel):
    model: ModelSummary
    keypoint_names: list[str]
    skeleton: list[tuple[int, int]] = Field(
        description="limbs as pairs of 0-based indices into keypoint_names"
    )
    video: VideoInfoResponse
    frames: list[VideoFrameResult]
    tracks: int = Field(description="distinct track ids in the video")
    timing_ms: VideoTiming


class HealthResponse(BaseModel):
    status: str = Field(examples=["ok"])


class ReadyResponse(BaseModel):
    status: str = Field(examples=["ready"])
    model: ModelSummary


class ModelJson(BaseModel):
    """The served model's ``model.json``, plus where and how it runs (the model card's
    ``device``, ``runtime``, ``backend``, ``precision`` and ``batch_sizes``)."""

    model_config = ConfigDict(extra="allow")

    preset: str
    format: str
    demo: bool
    flip_fused: bool
    outputs: str
    batch_size: int | None
    input_size: list[int]
    heatmap_size: list[int]
    channel_order: str
    mean: list[float]
    std: list[float]
    keypoint_names: list[str]
    skeleton: list[tuple[int, int]] = Field(
        description="limbs as pairs of 0-based indices into keypoint_names"
    )
    flip_pairs: list[tuple[int, int]] = Field(
        description="(left, right) joint pairs the flip test swaps"
    )
    config: dict[str, Any]
    device: str
    runtime: str = Field(description="mindspore or onnxruntime")
    backend: str = Field(description="mindspore-dynamic|-buckets, onnxruntime[-int8]")
    precision: str = Field(description="fp32 or int8")
    batch_sizes: list[int] | None = Field(
        description="static-shape buckets calls are padded to (null: any batch size)"
    )
    detector: DetectorSummary = Field(description="the server's person detector")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "empty, corrupt, truncated or not an image"),
        (413, "upload over the size limit, or too many pixels"),
        (415, "not a JPEG, PNG, WebP or BMP"),
        (422, "malformed, out-of-image or degenerate boxes, too many boxes, bad options"),
        (503, "queue full (see Retry-After) or shutting down"),
    )
}
VIDEO_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "not a video container, corrupt, truncated, no video stream or no frames"),
        (413, "upload over the byte limit, or frames over the pixel limit"),
        (415, "a video codec the service does not decode"),
        (422, "more frames or seconds than allowed, bad options"),
        (503, "too many videos in progress or queue full (see Retry-After), or shutting down"),
    )
}
