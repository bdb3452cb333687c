"""``simplepose predict``: ``PoseEstimator`` over image files offline (``--track``: over a
video, ``cli/predict_video.py``). Imports neither FastAPI nor the service's settings; an
exported ONNX model runs without MindSpore.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from simplepose.commandline.options import (
    DETECTOR_OPTIONS,
    HUB_OPTIONS,
    add_detector_option,
    add_model_options,
    detector_options,
    from_env,
    hub_options,
)
from simplepose.jsonfile import read_json
from simplepose.pose.codec import DECODE_METHODS

MAX_BOXES = 64  # per image in a boxes file, as the service's default max_boxes
PREDICT_EPILOG = """\
boxes file: JSON object mapping an image path (as given) or file name to its person boxes,
[[x, y, w, h], ...] or [{"bbox": [x, y, w, h], "score": s}, ...]; for images not in it the
person detector (--detector, as in the service) finds the boxes; --detector none makes the
whole image one person.

model: --model / SIMPLEPOSE_MODEL (a model directory, .ckpt or registry name), else the default
model, else the demo, as 'simplepose serve' resolves it. An exported ONNX model directory runs
with the base install (no MindSpore). Only the model, device and detector variables
(SIMPLEPOSE_MODEL, _DEVICE, _BACKEND, _THREADS, _CACHE_DIR, _OFFLINE, _DETECTOR*) are read.

examples:
  simplepose predict photos/ --model exported/res50_256x192 --output results.json --render out/
  simplepose predict clip.mp4 --track --output tracks.json --render tracked.mp4
  simplepose predict frames/ --track --fps 25 --detect-every 5 --smooth --output tracks.json
"""


def build_estimator(args: argparse.Namespace):
    """The ``PoseEstimator`` the options name (model and detector through the hub)."""
    from simplepose.detection import DEFAULT_DETECTOR
    from simplepose.estimator import PoseEstimator
    from simplepose.hub.resolve import NO_BUILDERS

    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    options = hub_options(args, progress=say)
    estimator = PoseEstimator(
        args.model, device=options.device, device_id=options.device_id,
        backend=options.backend, threads=args.threads, decode=args.decode,
        detector=args.detector or DEFAULT_DETECTOR, detector_options=detector_options(args),
        cache_dir=options.cache, offline=options.offline,
        builders=getattr(args, "builders", NO_BUILDERS),
    )  # fmt: skip
    if estimator.source.origin == "demo":
        say(f"*** DEMO MODEL: {estimator.source.note} ***")
    if estimator.detector.info.fallback:
        say(f"note: person detector {estimator.detector.info.label}")
    return estimator


def model_summary(estimator) -> dict[str, Any]:
    """The service's model card (``/v1/model``), with where the hub found the model."""
    from simplepose.runtime.on_device import model_summary as card

    source = estimator.source
    return {**card(estimator.model, estimator.device), "path": str(source.path),
            "origin": source.origin}  # fmt: skip


def _boxes_for(path: Path, boxes_by_image: dict[str, Any]):
    from simplepose.serving.boxes import boxes_from_list

    entry = boxes_by_image.get(str(path), boxes_by_image.get(path.name))
    return None if entry is None else boxes_from_list(entry, MAX_BOXES)


def _predict(args: argparse.Namespace) -> int:
    import cv2
    from tqdm import tqdm

    from simplepose.pose.geometry import BoxError
    from simplepose.pose.inputs import image_files
    from simplepose.serving.service_error import ServiceError

    from_env(args, (*HUB_OPTIONS, *DETECTOR_OPTIONS))
    if args.track:
        from simplepose.cli.predict_video import open_source, predict_video

        source = open_source(args)  # bad input fails before the model loads
        estimator = build_estimator(args)
        print(predict_video(args, source, estimator, model_summary(estimator)), file=sys.stderr)
        return 0
    paths = image_files(args.images)
    boxes_by_image = {} if args.boxes is None else read_json(args.boxes, "boxes file", dict)
    estimator = build_estimator(args)
    if args.render:
        args.render.mkdir(parents=True, exist_ok=True)
    images, errors = [], []
    for path in tqdm(paths, desc="predict", unit="image"):
        try:
            given = _boxes_for(path, boxes_by_image)
            boxes, scores = given if given is not None else (None, None)
            poses = estimator(path, boxes=boxes, box_scores=scores, nms=args.nms)
        except (ValueError, ServiceError) as exc:
            message = exc.message if isinstance(exc, ServiceError) else str(exc)
            if isinstance(exc, BoxError):
                message = f"{path.name}: {exc}"
            errors.append({"file": str(path), "error": message})
            continue
        width, height = poses.image_size
        found_by = "client boxes" if given is not None else estimator.detector.info.label
        images.append({"file": str(path), "width": width, "height": height,
                       "boxes_from": found_by, "persons": poses.to_json()})  # fmt: skip
        if args.render:
            cv2.imwrite(str(args.render / (path.stem + ".png")), poses.plot())
    result = {
        "model": model_summary(estimator), "detector": estimator.detector.info.label,
        "keypoint_names": list(estimator.keypoint_names),
        "skeleton": [list(limb) for limb in estimator.info.keypoints.skeleton],
        "images": images, "errors": errors,
    }  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result) + "\n")
    persons_total = sum(len(i["persons"]) for i in images)
    print(
        f"{len(images)} images, {persons_total} persons -> {args.output}"
        + (f"; {len(errors)} failed (listed under 'errors')" if errors else ""),
        file=sys.stderr,
    )
    return 1 if errors else 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    predict = sub.add_parser(
        "predict",
        help="run the keypoint pipeline on image files offline",
        description="Run the same pipeline as the service (PoseEstimator) on image files or "
        "folders and write the keypoints as JSON (optionally skeleton drawings).",
        epilog=PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("images", nargs="+", help="image files or folders of images")
    add_model_options(predict)
    predict.add_argument("--boxes", type=Path, help="JSON file of person boxes per image")
    add_detector_option(predict)
    predict.add_argument(
        "--output", type=Path, default=Path("results.json"), help="(default results.json)"
    )
    predict.add_argument("--render", type=Path, help="folder for PNGs with skeletons drawn")
    predict.add_argument(
        "--decode",
        choices=DECODE_METHODS,
        help="heatmap decoding (default: the model's test.decode)",
    )
    predict.add_argument("--nms", action="store_true", help="OKS NMS over each image's persons")
    video = predict.add_argument_group("video (--track)")
    video.add_argument(
        "--track", action="store_true",
        help="IMAGES is one video file or image folder: track persons over its frames; "
        "--output gets per-frame persons with track_id, --render a video FILE (.mp4)",
    )  # fmt: skip
    video.add_argument("--detect-every", type=int, help="detector on every N-th frame (1)")
    video.add_argument("--smooth", action="store_true", help="one-euro keypoint smoothing")
    video.add_argument("--fps", type=float, help="frame rate of an image folder (30)")
    predict.set_defaults(func=_predict)
