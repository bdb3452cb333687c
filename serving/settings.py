"""Service settings: one typed place, read from ``SIMPLEPOSE_*`` environment variables.

Docker images, compose files and the CLI all use these names; tests import ``ENV_PREFIX`` and
``Settings`` so the deployment files cannot drift from what the code reads.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from simplepose.commandline.options import ENV_PREFIX
from simplepose.config.presets import DEVICES
from simplepose.detection import DEFAULT_DETECTOR, DetectorOptions
from simplepose.detection.coco_results import DETECT_BATCH
from simplepose.hub.cache import DEFAULT_CACHE_DIR
from simplepose.hub.resolve import HubOptions
from simplepose.pose.codec import DECODE_METHODS
from simplepose.runtime.backends import BACKENDS
from simplepose.serving.demo import DEMO_STEPS

AuthMode = Literal["required", "off"]
AUTH_MODES: tuple[str, ...] = get_args(AuthMode)
ORIGIN_PATTERN = re.compile(r"https?://[^/\s]+")
# Allowed values of the choice fields, defined once in the core.
CHOICES = {"device": DEVICES, "backend": BACKENDS, "decode": DECODE_METHODS}


class Settings(BaseSettings):
    """Every knob of the keypoint service. Environment: ``SIMPLEPOSE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    model: Path | None = Field(
        None,
        description="model directory (model.json + graph), .ckpt or a registry pose name; default: cached pretrained, else demo",
    )
    cache_dir: Path = Field(DEFAULT_CACHE_DIR, description="downloaded weights and built models")
    device: str | None = Field(None, description=f"one of {DEVICES}; default Ascend if present")
    device_id: int = Field(0, ge=0, description="NPU index inside the container/host")
    backend: str = Field(
        "auto",
        description=f"runtime of an exported model dir, one of {BACKENDS}; auto: OpenVINO bf16 "
        "on an AMX CPU, else ONNX Runtime, when the dir has ONNX buckets; MindSpore buckets on "
        "Ascend",
    )
    threads: int | None = Field(
        None, ge=1, description="CPU threads per inference session (default: thread plan)"
    )
    sessions: int | None = Field(
        None, ge=1, description="CPU inference sessions side by side (default: thread plan)"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_batch: int = Field(16, ge=1, description="most person crops per model call")
    max_wait_ms: float = Field(5.0, ge=0, description="how long a batch waits to fill up")
    queue_size: int = Field(256, ge=1, description="most crops waiting; beyond it requests get 503")
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_pixels: int = Field(40_000_000, ge=1, description="decoded width x height limit")
    max_boxes: int = Field(64, ge=1, description="most person boxes per request")
    detector: str = Field(
        DEFAULT_DETECTOR,
        description="person detector for images sent without boxes: auto (rtmdet-nano-person, "
        "fetched once into the cache; none, labelled as a fallback, when it cannot be had), none "
        "(whole image is one person), hog (OpenCV, low accuracy), a detector from 'simplepose "
        "weights list', or the path of an ONNX detector (mmdeploy folder or YOLOX raw export)",
    )
    detector_max_batch: int = Field(DETECT_BATCH, ge=1, description="most images per detector call")
    # Detector preprocessing (graphs of dynamic input size without mmdeploy's pipeline.json)
    # and thresholds; unset: what the detector's pipeline.json / preset says.
    detector_input_size: str | None = Field(
        None, description="detector graph input WIDTHxHEIGHT, e.g. 320x320"
    )
    detector_mean: str | None = Field(None, description="detector input mean, three numbers a,b,c")
    detector_std: str | None = Field(None, description="detector input std, three numbers a,b,c")
    detector_channel_order: Literal["BGR", "RGB"] | None = Field(
        None, description="channel order the detector graph takes"
    )
    detector_score_threshold: float | None = Field(
        None, ge=0, le=1, description="person boxes below this score are dropped (default 0.3)"
    )
    detector_nms_iou: float | None = Field(
        None, gt=0, le=1, description="NMS IoU threshold of person boxes (default 0.65)"
    )
    detector_max_persons: int | None = Field(
        None, ge=1, le=1000, description="most person boxes per image (default 100)"
    )
    decode: str | None = Field(
        None,
        description=f"default decode, one of {DECODE_METHODS}; default: the model's test.decode",
    )
    offline: bool = Field(False, description="never try to download weights")
    log_level: str = "info"
    retry_after_s: int = Field(1, ge=1, description="Retry-After sent with 503 (queue full)")
    graceful_timeout_s: float = Field(
        30.0, ge=0, description="on shutdown, how long in-flight requests may take to finish"
    )
    video_max_bytes: int = Field(
        50 * 1024 * 1024, ge=1, description="POST /keypoints/video: largest upload (413 above)"
    )
    video_max_frames: int = Field(300, ge=1, description="most frames of one video (422 above)")
    video_max_seconds: float = Field(60.0, gt=0, description="longest video, seconds (422)")
    video_max_pixels: int = Field(
        1920 * 1088, ge=1, description="largest video/stream frame, width x height (413)"
    )
    video_max_requests: int = Field(
        2, ge=1, description="videos processed at once; more get 503 with Retry-After"
    )
    stream_max_connections: int = Field(4, ge=1, description="open /keypoints/stream sockets")
    stream_max_fps: float = Field(15.0, gt=0, description="frames/s one stream may send")
    stream_max_frame_bytes: int = Field(4 * 1024 * 1024, ge=1, description="largest stream frame")
    stream_idle_timeout_s: float = Field(
        60.0,
        gt=0,
        description="a stream without a tracked frame this long is closed (texts, pings: no)",
    )
    # Per-key shares of the video and stream slots (docs/access.md): one key cannot hold them
    # all; and the digests a deployment pins for downloads (docs/kubernetes.md).
    video_max_requests_per_key: int = Field(
        1, ge=1, description="videos one key (or address, auth off) may have in progress"
    )
    stream_max_connections_per_key: int = Field(
        2, ge=1, description="stream connections one key (or address) may hold open"
    )
    pinned_digests: Path | None = Field(
        None,
        description="sha256sum-style file of digests every weights download must match "
        "(simplepose.hub.pins reads the same variable)",
    )
    web_page: bool = Field(True, description="serve the web page at / (off: / answers 404)")
    demo_train_steps: int = Field(
        DEMO_STEPS, ge=1, description="training steps of the demo model built on first run"
    )
    # Access control (docs/access.md).
    auth: AuthMode | None = Field(
        None,
        description="required | off; unset: required unless bound to loopback without a key file",
    )
    api_keys_file: Path | None = Field(None, description="key file of `simplepose keys create`")
    keys_reload_s: float = Field(1.0, ge=0, description="how often the key file is checked")
    metrics_public: bool = Field(False, description="serve /metrics without a key")
    docs_public: bool = Field(True, description="serve /docs, /redoc, /openapi.json without a key")
    rate_limit_rps: float = Field(50.0, ge=0, description="requests/s per key (0: no limit)")
    rate_limit_burst: int = Field(100, ge=1, description="requests a key may send at once")
    rate_limit_persons_per_s: float = Field(
        500.0, ge=0, description="person crops/s per key (0: no limit)"
    )
    rate_limit_persons_burst: int = Field(1000, ge=1, description="person crops at once")
    rate_limit_frames_per_s: float = Field(
        100.0, ge=0, description="video frames/s per key (0: no limit)"
    )
    rate_limit_frames_burst: int = Field(300, ge=1, description="video frames at once")
    rate_limit_callers: int = Field(
        10_000, ge=1, description="most callers (keys or addresses) with a bucket in memory"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="origins allowed to call from a browser, comma-separated (default: none)",
    )

    @field_validator("device", "backend", "decode")
    @classmethod
    def _known_choice(cls, value: str | None, info: ValidationInfo) -> str | None:
        name = info.field_name
        assert name is not None  # pydantic sets it for every field validator
        choices = CHOICES[name]
        if value is not None and value not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        return value

    @field_validator("detector_input_size", "detector_mean", "detector_std")
    @classmethod
    def _detector_preprocessing(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if info.field_name == "detector_input_size":
            DetectorOptions.parse(input_size=value)
        elif info.field_name == "detector_mean":
            DetectorOptions.parse(mean=value)
        else:
            DetectorOptions.parse(std=value)
        return value

    def detector_options(self) -> DetectorOptions:
        """The detector preprocessing and thresholds set here (unset: the detector's own)."""
        return DetectorOptions.parse(
            input_size=self.detector_input_size,
            mean=self.detector_mean,
            std=self.detector_std,
            channel_order=self.detector_channel_order,
            score_thr=self.detector_score_threshold,
            nms_iou=self.detector_nms_iou,
            max_persons=self.detector_max_persons,
        )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _valid_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not ORIGIN_PATTERN.fullmatch(origin):
                raise ValueError(
                    f"CORS origin {origin!r} must be scheme://host[:port] without a path "
                    "(e.g. https://app.example.com), or *"
                )
        return value

    @model_validator(mode="after")
    def _bursts_hold_one_request(self) -> Settings:
        for kind, per_s, burst, most in (
            ("persons", self.rate_limit_persons_per_s, self.rate_limit_persons_burst, "max_boxes"),
            ("frames", self.rate_limit_frames_per_s, self.rate_limit_frames_burst,
             "video_max_frames"),
        ):  # fmt: skip
            if per_s > 0 and burst < getattr(self, most):
                raise ValueError(
                    f"rate_limit_{kind}_burst ({ENV_PREFIX}RATE_LIMIT_{kind.upper()}_BURST={burst}) "
                    f"must be at least {most} ({ENV_PREFIX}{most.upper()}={getattr(self, most)}), "
                    "or a full request could never pass"
                )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()


def hub_options(settings: Settings) -> HubOptions:
    """What the model hub needs of the service's settings (``simplepose.hub.resolve``)."""
    return HubOptions(
        cache=settings.cache_dir, offline=settings.offline, device=settings.device,
        device_id=settings.device_id, backend=settings.backend,
        demo_steps=settings.demo_train_steps,
    )  # fmt: skip
