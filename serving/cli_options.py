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


def add_detector_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--detector",
        help="person detector for images without boxes: hog (default; built in, low accuracy), "
        "none (whole image), a detector from 'simplepose weights list', or an end2end.onnx path",
    )


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
