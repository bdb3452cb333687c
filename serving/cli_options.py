"""Command-line options and set-up shared by ``serve``, ``predict`` and ``detect``: settings
from the options given, the model and detector options, the detector they name, image paths.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from simplepose.commandline.errors import CLIError
from simplepose.config.presets import DEVICES
from simplepose.runtime.backends import BACKENDS

if TYPE_CHECKING:
    from simplepose.detection import PersonDetector
    from simplepose.serving.settings import Settings


def settings_from_args(args: argparse.Namespace, names: tuple[str, ...]):
    """Settings from the environment, overridden by the options given on the command line."""
    from pydantic import ValidationError

    from simplepose.serving.settings import Settings

    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise CLIError(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from exc


# Settings the detector options of add_detector_option set (for settings_from_args).
DETECTOR_FIELDS = (
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


def load_settings_detector(settings: Settings) -> PersonDetector:
    """The detector ``settings.detector`` names; naming errors are user errors."""
    from simplepose.detection import DetectorLoadError
    from simplepose.serving.main import build_detector

    try:
        return build_detector(settings)
    except DetectorLoadError as exc:
        raise CLIError(str(exc)) from exc


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


def image_paths(items: list[str]) -> list[Path]:
    """The files ``items`` name, and the images (by suffix, sorted) of the folders they name."""
    from simplepose.video.frames import (
        IMAGE_SUFFIXES,  # the same as --track's folders; loads OpenCV
    )

    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            paths.append(path)
        else:
            raise FileNotFoundError(f"no such image or folder: {item}")
    if not paths:
        raise CLIError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {' '.join(items)}")
    return paths
