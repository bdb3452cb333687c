"""Typed configuration: the dataclass sections, named presets, and which fields a checkpoint
fixes. Reading configs from YAML files, overrides and saved dicts: ``simplepose.config.loading``.

A config has five sections: ``model`` (network and input geometry), ``data`` (augmentation and
crop recipe), ``train`` (optimiser and schedule), ``test`` (evaluation and post-processing) and
``track`` (video tracking).
Sizes are always ``(w, h)`` tuples; array shapes are written ``(H, W)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from simplepose.pose.codec import DECODE_METHODS
from simplepose.pose.keypoints import COCO17, KeypointSet

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
RESNET_DEPTHS = (18, 34, 50, 101, 152)
CHANNEL_ORDERS = ("RGB", "BGR")
DEVICES = ("CPU", "Ascend")
AMP_LEVELS = ("O0", "O1", "O2", "O3")


@dataclass(frozen=True)
class ModelConfig:
    """Network shape and the input it expects."""

    depth: int = 50
    input_size: tuple[int, int] = (192, 256)  # (w, h)
    heatmap_size: tuple[int, int] = (48, 64)  # (w, h)
    num_joints: int = COCO17.num_keypoints  # = len(Config.keypoints.names)
    deconv_channels: int = 256
    num_deconv_layers: int = 3
    deconv_kernel: int = 4
    final_kernel: int = 1
    # Order of the colour channels the weights expect. MSRA checkpoints were trained on BGR.
    channel_order: str = "RGB"
    # Normalisation constants, applied to input channel positions 0, 1, 2 as given, whatever
    # `channel_order` is: MSRA's BGR weights were trained with the RGB ImageNet values.
    mean: tuple[float, float, float] = IMAGENET_MEAN_RGB
    std: tuple[float, float, float] = IMAGENET_STD_RGB
    sigma: float = 2.0  # Gaussian target radius in heatmap pixels

    def validate(self) -> None:
        if self.depth not in RESNET_DEPTHS:
            raise ValueError(f"model.depth must be one of {RESNET_DEPTHS}, got {self.depth}")
        if self.channel_order not in CHANNEL_ORDERS:
            raise ValueError(
                f"model.channel_order must be one of {CHANNEL_ORDERS}, got {self.channel_order!r}"
            )
        stride = 2 ** (5 - self.num_deconv_layers)  # backbone /32, each deconv x2
        iw, ih = self.input_size
        if iw % 32 or ih % 32:
            raise ValueError(f"model.input_size {self.input_size} must be multiples of 32")
        if self.heatmap_size != (iw // stride, ih // stride):
            raise ValueError(
                f"model.heatmap_size {self.heatmap_size} must be input_size / {stride} "
                f"= {(iw // stride, ih // stride)}"
            )
        if any(s <= 0 for s in self.std):
            raise ValueError(f"model.std must be positive, got {self.std}")


@dataclass(frozen=True)
class DataConfig:
    """Crop recipe and training augmentation (seed recipe values)."""

    # Person boxes are enlarged by this factor before cropping, in training and at inference.
    box_padding: float = 1.25
    scale_factor: float = 0.3  # s *= clip(randn * f + 1, 1 - f, 1 + f)
    rotation_factor: float = 40.0  # r = clip(randn * f, -2f, 2f) degrees
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.0  # 0 disables half-body augmentation (seed recipe)
    half_body_min_joints: int = 8  # only persons with more visible joints than this
    # Targets centred on the exact sub-pixel joint (DARK's unbiased encoding) instead of the
    # reference's rounded centre; pairs with DARK decoding, matters most at low resolution.
    unbiased_targets: bool = False
    num_workers: int = 2


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule (seed: Adam 1e-3, x0.1 at epochs 90 and 120, 140 epochs)."""

    epochs: int = 140
    batch_size: int = 64  # per device
    lr: float = 1e-3
    lr_steps: tuple[int, ...] = (90, 120)  # epochs at which lr *= lr_factor
    lr_factor: float = 0.1
    weight_decay: float = 0.0
    amp_level: str = "O0"  # "O2" with loss scaling on Ascend
    loss_scale: float = 1024.0
    seed: int = 1
    log_every: int = 10  # steps between metrics lines

    def validate(self) -> None:
        if self.amp_level not in AMP_LEVELS:
            raise ValueError(f"train.amp_level must be one of {AMP_LEVELS}, got {self.amp_level!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("train.epochs and train.batch_size must be >= 1")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class TestConfig:
    """Inference and post-processing (seed test settings): the one source of these values for
    ``evaluate``, ``predict`` and the service (``pipeline.PosePipeline`` reads them from the
    model's own config)."""

    batch_size: int = 32
    flip_test: bool = True
    decode: str = "dark"
    in_vis_thre: float = 0.2  # joints above this score count for the person score
    oks_thre: float = 0.9  # OKS NMS threshold
    image_thre: float = 0.0  # detector boxes below this score are dropped

    def validate(self) -> None:
        if self.decode not in DECODE_METHODS:
            raise ValueError(f"test.decode must be one of {DECODE_METHODS}, got {self.decode!r}")


@dataclass(frozen=True)
class TrackConfig:
    """Video tracking (``simplepose.video.tracker``; SimpleBaselines' flow-based pose tracking)."""

    detect_every: int = 1  # run the person detector on every N-th frame; flow boxes in between
    oks_weight: float = 0.5  # similarity = w * OKS + (1 - w) * IoU of the person boxes
    match_threshold: float = 0.3  # a person joins a track only above this similarity
    max_missed: int = 10  # frames a track survives unmatched in view (occlusion, detector miss)
    max_offscreen: int = 300  # frames it waits while camera motion has moved it out of view
    flow: bool = True  # move the previous frame's keypoints by Lucas-Kanade optical flow
    box_margin: float = 0.2  # a box from keypoints grows by this fraction of its width/height
    box_nms_iou: float = 0.5  # a flow box overlapping a detection by more is dropped
    propagated_min_score: float = 0.1  # persons found only from a flow box need this score
    min_keypoints: int = 4  # joints above in_vis_thre for a keypoint flow box (else: moved box)
    smoothing: bool = False  # one-euro filter on each track's keypoints (output only)
    smooth_min_cutoff: float = 1.0  # Hz when still: lower = smoother, more lag
    smooth_beta: float = 0.02  # cutoff rise per px/s of joint speed: higher = less lag
    fps: float = 30.0  # frame rate assumed when the source has none (image folders, streams)

    def validate(self) -> None:
        if self.detect_every < 1 or min(self.max_missed, self.max_offscreen) < 0:
            raise ValueError(
                "track.detect_every >= 1, track.max_missed >= 0 and track.max_offscreen >= 0 "
                f"needed; got {self.detect_every}, {self.max_missed}, {self.max_offscreen}"
            )
        if self.min_keypoints < 1:
            raise ValueError(f"track.min_keypoints must be >= 1, got {self.min_keypoints}")
        for name in ("oks_weight", "match_threshold", "box_nms_iou", "propagated_min_score"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"track.{name} must be in [0, 1], got {value}")
        if self.box_margin < 0 or self.smooth_min_cutoff <= 0 or self.smooth_beta < 0:
            raise ValueError("track.box_margin >= 0, smooth_min_cutoff > 0, smooth_beta >= 0")
        if self.fps <= 0:
            raise ValueError(f"track.fps must be positive, got {self.fps}")


@dataclass(frozen=True)
class Config:
    name: str = "res50_256x192"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    test: TestConfig = field(default_factory=TestConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    # What the K outputs mean (names, flip pairs, skeleton, OKS sigmas, colours); a whole set,
    # never merged key by key (``simplepose.config.loading``).
    keypoints: KeypointSet = COCO17

    def validate(self) -> Config:
        if self.model.num_joints != self.keypoints.num_keypoints:
            raise ValueError(
                f"model.num_joints {self.model.num_joints} != {self.keypoints.num_keypoints} "
                f"keypoints of set {self.keypoints.name!r}"
            )
        self.model.validate()
        self.train.validate()
        self.test.validate()
        self.track.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        data = _plain({f.name: dataclasses.asdict(getattr(self, f.name)) for f in SECTIONS})
        return {"name": self.name, **data, "keypoints": self.keypoints.to_dict()}

    def with_keypoints(self, keypoints: KeypointSet) -> Config:
        """This config for another keypoint set (``model.num_joints`` follows it)."""
        model = replace(self.model, num_joints=keypoints.num_keypoints)
        return replace(self, model=model, keypoints=keypoints).validate()

    def save_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


SECTIONS = tuple(f for f in dataclasses.fields(Config) if f.name not in ("name", "keypoints"))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _make_preset(depth: int, input_size: tuple[int, int], sigma: float) -> Config:
    w, h = input_size
    return Config(
        name=f"res{depth}_{h}x{w}",
        model=ModelConfig(
            depth=depth, input_size=(w, h), heatmap_size=(w // 4, h // 4), sigma=sigma
        ),
    )


# Standard sizes: 256x192 (sigma 2) and 384x288 (sigma 3), as in the reference configs.
PRESETS: dict[str, Config] = {
    cfg.name: cfg
    for depth in RESNET_DEPTHS
    for cfg in (_make_preset(depth, (192, 256), 2.0), _make_preset(depth, (288, 384), 3.0))
}
# A small preset for CPU experiments, demos and tests.
PRESETS["res18_128x96"] = replace(_make_preset(18, (96, 128), 2.0), test=TestConfig(batch_size=16))


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_preset(name: str) -> Config:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(preset_names())}")
    return PRESETS[name]


# Fields of ``model`` the weights fix: a config naming other values describes another network.
ARCHITECTURE_FIELDS = (
    "depth",
    "input_size",
    "heatmap_size",
    "num_joints",
    "deconv_channels",
    "num_deconv_layers",
    "deconv_kernel",
    "final_kernel",
)
# Data facts a checkpoint carries (MSRA weights expect BGR). Presets leave them at the
# ``ModelConfig`` defaults, so a given config with the default value means "not chosen": the
# checkpoint's value wins. A non-default value was set by the user and wins over the checkpoint.
DATA_FACT_FIELDS = ("channel_order", "mean", "std")


def reconcile_with_checkpoint(saved: Config, given: Config, source: str) -> Config:
    """The config to run a checkpoint saved with ``saved`` under a user-given ``given`` config.

    Architecture mismatches are errors; data facts come from the checkpoint unless ``given``
    sets them explicitly (see ``DATA_FACT_FIELDS``); the keypoint set is the checkpoint's (a
    ``given`` naming another set than the default is an error); everything else comes from
    ``given``.
    """
    if given.keypoints == COCO17 and saved.keypoints != COCO17:
        given = given.with_keypoints(saved.keypoints)
    elif given.keypoints != saved.keypoints:
        raise ValueError(
            f"config {given.name} has keypoint set {given.keypoints.name!r}, {source} was "
            f"trained on {saved.keypoints.name!r}"
        )
    clash = [
        f"{name}: checkpoint {getattr(saved.model, name)!r}, config {getattr(given.model, name)!r}"
        for name in ARCHITECTURE_FIELDS
        if getattr(saved.model, name) != getattr(given.model, name)
    ]
    if clash:
        raise ValueError(
            f"config {given.name} describes another network than {source} ("
            + "; ".join(clash)
            + "); leave the config out to use the checkpoint's own"
        )
    defaults = ModelConfig()
    facts = {
        name: getattr(saved.model, name)
        for name in DATA_FACT_FIELDS
        if getattr(given.model, name) == getattr(defaults, name)
    }
    return replace(given, model=replace(given.model, **facts)).validate()
