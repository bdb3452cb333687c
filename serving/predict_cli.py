"""``simplepose predict``: the service's pipeline on image files offline (``--track``: on a
video, see ``predict_video``).

Heavy imports (MindSpore, OpenCV) happen inside the handler.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from simplepose.jsonfile import read_json
from simplepose.pose.codec import DECODE_METHODS
from simplepose.serving.cli_options import (
    DETECTOR_FIELDS,
    add_detector_option,
    add_model_options,
    image_paths,
    load_settings_detector,
    settings_from_args,
)

PREDICT_EPILOG = """\
boxes file: JSON object mapping an image path (as given) or file name to its person boxes,
[[x, y, w, h], ...] or [{"bbox": [x, y, w, h], "score": s}, ...]; for images not in it the
person detector (--detector, as in the service) finds the boxes; --detector none makes the
whole image one person.

examples:
  simplepose predict photos/ --model exported/res50_256x192 --output results.json --render out/
  simplepose predict clip.mp4 --track --output tracks.json --render tracked.mp4
  simplepose predict frames/ --track --fps 25 --detect-every 5 --smooth --output tracks.json
"""


def _resolve(settings) -> Any:
    from simplepose.serving.model_source import resolve_model

    choice = resolve_model(settings, progress=lambda text: print(text, file=sys.stderr))
    if choice.origin == "demo":
        from simplepose.serving.main import DEMO_BANNER

        print(DEMO_BANNER, file=sys.stderr)
    return choice


def _load(settings, path: Path):
    from simplepose.serving.model_source import load_on_device

    return load_on_device(
        path,
        settings.device,
        settings.device_id,
        backend=settings.backend,
        threads=settings.threads,
    )


def _load_boxes_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    return read_json(path, "boxes file {image: [boxes]}", dict)


def _predict(args: argparse.Namespace) -> int:
    import cv2
    from tqdm import tqdm

    from simplepose.drawing import draw_persons
    from simplepose.pose.geometry import BoxError
    from simplepose.pose.pipeline import PosePipeline, read_image
    from simplepose.serving.boxes import boxes_from_list
    from simplepose.serving.http_errors import ServiceError
    from simplepose.serving.predictor import model_summary
    from simplepose.serving.results import persons_to_json

    settings = settings_from_args(
        args,
        (
            "model",
            "device",
            "device_id",
            "cache_dir",
            "offline",
            "backend",
            "threads",
            *DETECTOR_FIELDS,
        ),  # fmt: skip
    )
    detector = load_settings_detector(settings)
    if detector.info.fallback:
        print(f"note: person detector {detector.info.label}", file=sys.stderr)
    if args.track:
        from simplepose.serving.predict_video import open_source, predict_video

        source = open_source(args)  # bad input fails before the model loads
        choice = _resolve(settings)
        model, device = _load(settings, choice.path)
        pipeline = PosePipeline(model, decode=args.decode or settings.decode)
        summary = model_summary(model, device)
        print(predict_video(args, source, pipeline, detector, summary), file=sys.stderr)
        return 0
    paths = image_paths(args.images)
    boxes_by_image = _load_boxes_file(args.boxes)
    choice = _resolve(settings)
    model, device = _load(settings, choice.path)
    pipeline = PosePipeline(model, decode=args.decode or settings.decode)
    if args.render:
        args.render.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for path in tqdm(paths, desc="predict", unit="image"):
        try:
            image = read_image(str(path))
            entry = boxes_by_image.get(str(path), boxes_by_image.get(path.name))
            if entry is not None:
                boxes, scores = boxes_from_list(entry, settings.max_boxes)
                boxes_from = "client boxes"
            else:
                found = detector.detect(image)
                boxes, scores, boxes_from = found.boxes, found.scores, found.detector
            persons = pipeline(image, boxes, scores, nms=args.nms)
        except (ValueError, ServiceError) as exc:
            message = exc.message if isinstance(exc, ServiceError) else str(exc)
            if isinstance(exc, BoxError):
                message = f"{path.name}: {exc}"
            errors.append({"file": str(path), "error": message})
            continue
        images.append(
            {
                "file": str(path),
                "width": int(image.shape[1]),
                "height": int(image.shape[0]),
                "boxes_from": boxes_from,
                "persons": persons_to_json(persons),
            }
        )
        if args.render:
            out = args.render / (path.stem + ".png")
            drawn = draw_persons(
                image, persons.keypoints, persons.boxes, pipeline.in_vis_thre,
                keypoint_set=pipeline.keypoints,
            )  # fmt: skip
            cv2.imwrite(str(out), drawn)
    result = {
        "model": model_summary(model, device),
        "detector": detector.info.label,
        "keypoint_names": list(model.info.keypoint_names),
        "skeleton": [list(limb) for limb in model.info.keypoints.skeleton],
        "images": images,
        "errors": errors,
    }
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
    fmt = argparse.RawDescriptionHelpFormatter
    predict = sub.add_parser(
        "predict",
        help="run the keypoint pipeline on image files offline",
        description="Run the same pipeline as the service on image files or folders and write "
        "the keypoints as JSON (optionally skeleton drawings).",
        epilog=PREDICT_EPILOG,
        formatter_class=fmt,
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
