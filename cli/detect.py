"""``simplepose detect``: person boxes of image files as COCO detection results.

The same detectors as the service and ``predict``, named through the model hub
(``simplepose.hub.resolve.resolve_detector``); the output is the format ``simplepose evaluate
--boxes FILE`` reads. Imports neither FastAPI nor the service's settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from simplepose.commandline.errors import CLIError
from simplepose.commandline.options import (
    DETECTOR_OPTIONS,
    add_detector_option,
    detector_options,
    from_env,
    hub_options,
)
from simplepose.config.presets import DEVICES
from simplepose.jsonfile import read_json

DETECT_EPILOG = """\
image ids: from --annotations (a COCO annotation file: file_name -> id) when given, else the
file name's digits (COCO names such as 000000217285.jpg), else the file name itself.

detector: auto (rtmdet-nano-person) unless --detector says otherwise; a folder of mmdeploy's
SDK files (pipeline.json, deploy.json, detail.json) gives its own preprocessing; a graph of
dynamic input size without them needs --detector-input-size (and its mean/std/channel order).

examples:
  simplepose detect val2017/ --output dets.json
  simplepose detect val2017/ --detector yolox-m-humanart --output dets.json
  simplepose detect val2017/ --detector my_det.onnx --detector-input-size 320x320 \\
      --detector-mean 103.53,116.28,123.675 --detector-std 57.375,57.12,58.395 --output dets.json
  simplepose evaluate --model exported/r50 --data coco --boxes dets.json
"""


def _image_ids(paths: list[Path], annotations: Path | None) -> dict[Path, int | str]:
    by_name: dict[str, Any] = {}
    if annotations is not None:
        data = read_json(annotations, "COCO annotation file", dict)
        images = data.get("images")
        if not isinstance(images, list):
            raise CLIError(f"{annotations}: no 'images' list")
        by_name = {str(i.get("file_name")): i.get("id") for i in images if isinstance(i, dict)}
    ids: dict[Path, int | str] = {}
    for path in paths:
        if by_name:
            if path.name not in by_name:
                raise CLIError(f"{path.name} is not in {annotations}")
            ids[path] = by_name[path.name]
        else:
            ids[path] = int(path.stem) if path.stem.isdigit() else path.name
    return ids


def _detect(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from simplepose.detection.coco_results import coco_records, detect_files
    from simplepose.hub.resolve import resolve_detector
    from simplepose.pose.inputs import image_files

    from_env(args, ("device", "cache_dir", "offline", *DETECTOR_OPTIONS))
    paths = image_files(args.images)
    ids = _image_ids(paths, args.annotations)
    detector = resolve_detector(args.detector, hub_options(args), detector_options(args))
    print(f"person detector: {detector.info.label}", file=sys.stderr)
    records: list[dict[str, Any]] = []
    errors = []
    with tqdm(total=len(paths), desc="detect", unit="image") as bar:
        for path, found in detect_files(detector, paths, on_image=lambda: bar.update(1)):
            if isinstance(found, ValueError):
                errors.append({"file": str(path), "error": str(found)})
            else:
                records += coco_records(ids[path], found)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(records) + "\n")
    print(
        f"{len(paths) - len(errors)} images, {len(records)} person boxes -> {args.output}"
        + "".join(f"\nerror: {e['file']}: {e['error']}" for e in errors),
        file=sys.stderr,
    )
    return 1 if errors else 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect",
        help="find person boxes in images; write COCO detection results",
        description="Run a person detector (the service's) over image files or folders and "
        "write COCO detection results: [{image_id, category_id: 1, bbox: [x, y, w, h], score}].",
        epilog=DETECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("images", nargs="+", help="image files or folders of images")
    add_detector_option(p)
    p.add_argument("--output", type=Path, default=Path("dets.json"), help="(default dets.json)")
    p.add_argument("--annotations", type=Path, help="COCO annotation file giving the image ids")
    p.add_argument("--device", choices=DEVICES, help="default: Ascend (CANN) if usable, else CPU")
    p.add_argument("--cache-dir", type=Path, help="where fetched detectors are cached")
    p.add_argument("--offline", action="store_const", const=True, help="never download")
    p.set_defaults(func=_detect)
