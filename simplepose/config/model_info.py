"""``model.json``: what the service needs to know about an exported model, and nothing to guess.

The model directory (``model.mindir`` or ``model.onnx`` + ``model.json``) is the contract between
export and serving.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from simplepose.config.loading import config_from_dict
from simplepose.config.presets import Config, ModelConfig
from simplepose.jsonfile import read_json
from simplepose.pose.keypoints import KeypointSet

MODEL_JSON = "model.json"
MODEL_FORMATS = ("mindir", "onnx", "checkpoint")
MODEL_FILES = {"mindir": "model.mindir", "onnx": "model.onnx"}
PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class Bucket:
    """One static-shape graph of a model directory: ``file`` takes exactly ``batch_size`` crops."""

    file: str
    format: str
    batch_size: int
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.format not in MODEL_FILES:
            raise ValueError(f"bucket format must be one of {tuple(MODEL_FILES)}: {self.format!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"bucket precision must be one of {PRECISIONS}: {self.precision!r}")
        if self.batch_size < 1 or Path(self.file).name != self.file:
            raise ValueError(f"bad bucket {self.file!r} (batch {self.batch_size})")

    @staticmethod
    def file_name(fmt: str, batch_size: int, precision: str = "fp32") -> str:
        return f"model_{precision}_b{batch_size}.{fmt}"


@dataclass(frozen=True)
class ModelInfo:
    """Description of one exported model (serialised as ``model.json``).

    ``batch_size`` is ``None`` for a dynamic batch, else the only batch the graph accepts.
    ``outputs`` is ``"heatmaps"`` (N, K, H, W) or ``"keypoints"`` (N, K, 3) when decoding is
    fused into the graph. ``buckets`` lists the static-shape graphs exported next to the main
    one (``simplepose export --batch-sizes``); ``quantization`` records how the INT8 ones were
    calibrated.
    """

    config: Config
    format: str = "mindir"
    flip_fused: bool = True
    outputs: str = "heatmaps"
    batch_size: int | None = None
    source_checkpoint: str = ""
    source_sha256: str = ""
    mindspore_version: str = ""
    demo: bool = False
    buckets: tuple[Bucket, ...] = ()
    quantization: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format not in MODEL_FORMATS:
            raise ValueError(f"format must be one of {MODEL_FORMATS}, got {self.format!r}")
        if self.outputs not in ("heatmaps", "keypoints"):
            raise ValueError(f"outputs must be 'heatmaps' or 'keypoints', got {self.outputs!r}")

    @property
    def model(self) -> ModelConfig:
        return self.config.model

    @property
    def keypoints(self) -> KeypointSet:
        """The keypoint set of the model's outputs (``config.keypoints``)."""
        return self.config.keypoints

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return self.config.keypoints.names

    def bucket_sizes(self, fmt: str, precision: str = "fp32") -> tuple[int, ...]:
        """Batch sizes of the ``fmt`` / ``precision`` bucket graphs, ascending (may be empty)."""
        return tuple(
            sorted(
                b.batch_size for b in self.buckets if (b.format, b.precision) == (fmt, precision)
            )
        )

    def bucket_files(self, fmt: str, precision: str = "fp32") -> dict[int, str]:
        """Batch size -> file name of the ``fmt`` / ``precision`` buckets."""
        return {
            b.batch_size: b.file
            for b in self.buckets
            if (b.format, b.precision) == (fmt, precision)
        }

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        data = asdict(self)
        data["config"] = self.config.to_dict()
        # Flat copies of what a client most often wants, so it need not dig into "config".
        kps = self.keypoints
        data.update(
            keypoint_names=list(kps.names),
            flip_pairs=[list(p) for p in kps.flip_pairs],
            skeleton=[list(p) for p in kps.skeleton],
            preset=self.config.name,
            input_size=list(m.input_size),
            heatmap_size=list(m.heatmap_size),
            channel_order=m.channel_order,
            mean=list(m.mean),
            std=list(m.std),
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        flat = {"preset", "input_size", "heatmap_size", "channel_order", "mean", "std"}
        flat |= {"keypoint_names", "flip_pairs", "skeleton"}
        args = {k: v for k, v in data.items() if k not in flat}
        if "config" not in args:
            raise ValueError("model.json has no 'config' section")
        args["config"] = config_from_dict(args["config"])
        kps = args["config"].keypoints.to_dict()
        for key, own in (("keypoint_names", "names"), ("flip_pairs", "flip_pairs")):
            if key in data and data[key] != kps[own]:
                raise ValueError(f"{key} contradicts config.keypoints ({kps['name']})")
        args["buckets"] = tuple(Bucket(**b) for b in args.get("buckets", ()))
        return cls(**args)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / MODEL_JSON
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> ModelInfo:
        path = Path(directory) / MODEL_JSON
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: is {directory} an exported model directory?"
            )
        data = read_json(path, "model.json", dict)
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            raise ValueError(f"{path} is not a valid model.json ({reason})") from exc
