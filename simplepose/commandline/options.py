"""Model and detector options shared by ``serve``, ``predict``, ``detect`` and ``evaluate``,
and the ``SIMPLEPOSE_*`` environment defaults the offline commands read.

The offline commands read only the variables of these options (the model hub and the runtime),
never the service's settings: ``SIMPLEPOSE_RATE_LIMIT_*`` and the other service knobs do not
concern ``predict``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from simplepose.config.presets import DEVICES
from simplepose.detection.options import DetectorOptions
from simplepose.hub.resolve import HubOptions
from simplepose.runtime.backends import BACKENDS

ENV_PREFIX = "SIMPLEPOSE_"  # the service's Settings read the same names
TRUE = ("1", "true", "yes", "on")
FALSE = ("", "0", "false", "no", "off")
HUB_OPTIONS = ("model", "device", "device_id", "cache_dir", "backend", "threads", "offline")
DETECTOR_OPTIONS = (
    "detector", "detector_input_size", "detector_mean", "detector_std", "detector_channel_order",
    "detector_score_threshold", "detector_nms_iou", "detector_max_persons",
)  # fmt: skip


def add_detector_option(p: argparse.ArgumentParser) -> None:
    """``--detector`` and the options that describe it (docs/detector.md)."""
    p.add_argument(
        "--detector",
        help="person detector for images without boxes: auto (default: rtmdet-nano-person, "
        "fetched once into the cache; none, labelled as a fallback, when unavailable), none "
        "(whole image), hog (low accuracy), a detector from 'simplepose weights list', or an "
        "ONNX detector path (mmdeploy folder with pipeline.json, end2end.onnx, YOLOX raw export)",
    )
    g = p.add_argument_group(
        "detector preprocessing and thresholds",
        "for a graph of dynamic input size without mmdeploy's pipeline.json, and to override "
        "what the detector's own files say",
    )
    g.add_argument("--detector-input-size", metavar="WxH", help="graph input size, e.g. 320x320")
    g.add_argument("--detector-mean", metavar="A,B,C", help="input mean in the channel order")
    g.add_argument("--detector-std", metavar="A,B,C", help="input std in the channel order")
    g.add_argument("--detector-channel-order", choices=("BGR", "RGB"), help="(default BGR)")
    g.add_argument(
        "--detector-score-threshold", type=float, metavar="S", help="drop boxes below (0.3)"
    )
    g.add_argument("--detector-nms-iou", type=float, metavar="IOU", help="NMS IoU (0.65)")
    g.add_argument("--detector-max-persons", type=int, metavar="N", help="boxes per image (100)")


def detector_options(args: argparse.Namespace) -> DetectorOptions:
    """The ``--detector-*`` preprocessing and thresholds given (after ``from_env``)."""
    return DetectorOptions.parse(
        input_size=getattr(args, "detector_input_size", None),
        mean=getattr(args, "detector_mean", None),
        std=getattr(args, "detector_std", None),
        channel_order=getattr(args, "detector_channel_order", None),
        score_thr=getattr(args, "detector_score_threshold", None),
        nms_iou=getattr(args, "detector_nms_iou", None),
        max_persons=getattr(args, "detector_max_persons", None),
    )


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        type=Path,
        help="exported model directory, .ckpt checkpoint, or a pose name of 'simplepose "
        "weights list' (fetched into the cache with this device's fast graphs)",
    )
    p.add_argument("--device", choices=DEVICES, help="default: Ascend if present")
    p.add_argument("--device-id", type=int, help="NPU index (default 0)")
    p.add_argument("--cache-dir", type=Path, help="where default/demo models are cached")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        help="runtime of an exported model (auto: ONNX Runtime buckets on CPU if present)",
    )
    p.add_argument("--threads", type=int, help="CPU intra-op threads (default: usable CPUs)")
    p.add_argument("--offline", action="store_const", const=True, help="never download weights")


def _env(name: str) -> str | None:
    value = os.environ.get(ENV_PREFIX + name.upper())
    return None if value is None or value.strip() == "" else value.strip()


def from_env(args: argparse.Namespace, names: tuple[str, ...]) -> argparse.Namespace:
    """``args`` with each of ``names`` not given on the command line taken from
    ``SIMPLEPOSE_<NAME>`` (checked here: a bad value is a ``ValueError`` naming the variable)."""
    for name in names:
        if getattr(args, name, None) is not None or (raw := _env(name)) is None:
            continue
        var = ENV_PREFIX + name.upper()
        if name in ("detector_score_threshold", "detector_nms_iou"):
            try:
                value: object = float(raw)
            except ValueError:
                raise ValueError(f"{var}: expected a number, got {raw!r}") from None
        elif name in ("device_id", "threads", "detector_max_persons"):
            if not raw.isdigit() or (name == "threads" and int(raw) < 1):
                raise ValueError(f"{var}: expected a whole number >= 0 (threads >= 1), got {raw!r}")
            value = int(raw)
        elif name == "offline":
            if raw.lower() not in TRUE + FALSE:
                raise ValueError(f"{var}: expected true or false, got {raw!r}")
            value = raw.lower() in TRUE
        elif name in ("model", "cache_dir"):
            value = Path(raw)
        else:
            choices = {"device": DEVICES, "backend": BACKENDS}.get(name)
            if choices is not None and raw not in choices:
                raise ValueError(f"{var} must be one of {choices}, got {raw!r}")
            value = raw
        setattr(args, name, value)
    return args


def hub_options(args: argparse.Namespace, progress=None) -> HubOptions:
    """The model hub's options from parsed ``add_model_options`` arguments."""
    return HubOptions(
        cache=getattr(args, "cache_dir", None), offline=bool(getattr(args, "offline", False)),
        device=getattr(args, "device", None), device_id=getattr(args, "device_id", None) or 0,
        backend=getattr(args, "backend", None) or "auto", progress=progress,
    )  # fmt: skip
