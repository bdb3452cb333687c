"""Subcommands of the serving stage: ``serve`` (HTTP service) and ``predict`` (offline).

Heavy imports (MindSpore, FastAPI, uvicorn) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simplepose.backends import BACKENDS
from simplepose.codec import DECODE_METHODS
from simplepose.config import DEVICES
from simplepose.errors import CLIError
from simplepose.jsonfile import read_json

if TYPE_CHECKING:
    from simplepose.serving.settings import Settings

    from simplepose.detection import PersonDetector

log = logging.getLogger(__name__)
EXIT_FAILED = 1  # the model did not load, or queued inference did not finish at shutdown
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
SERVE_EPILOG = """\
model resolution: --model / SIMPLEPOSE_MODEL; else the cached default pretrained model
(downloaded on first run unless --offline); else a DEMO model built on first run (a few
minutes, cached) and labelled "demo": true in every response.

every option also reads SIMPLEPOSE_<NAME> from the environment (e.g. SIMPLEPOSE_PORT=9000,
SIMPLEPOSE_DEVICE=Ascend); command-line values win. ONEDNN_MAX_CPU_ISA=AVX2 is set unless
already set (MindSpore on AVX-512 CPUs is ~70x slower without it).

person detector (images sent without boxes): --detector / SIMPLEPOSE_DETECTOR; default hog,
OpenCV's built-in people detector, a LOW-ACCURACY fallback labelled as such in every response.
A real one: simplepose weights get yolox-m-humanart, then --detector yolox-m-humanart (see
docs/detector.md). Boxes sent by the client always win; ?detector=none skips detection.

examples:
  simplepose serve --model exported/res50_256x192
  curl -F image=@person.jpg -F 'boxes=[[10,20,200,400]]' http://127.0.0.1:8000/keypoints
"""
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


def _settings(args: argparse.Namespace, names: tuple[str, ...]):
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
    from simplepose.serving.main import build_detector

    from simplepose.detection import DetectorLoadError

    try:
        return build_detector(settings)
    except DetectorLoadError as exc:
        raise CLIError(str(exc)) from exc


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="exported model directory or .ckpt checkpoint")
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


SERVE_OPTIONS = (
    "model", "device", "device_id", "cache_dir", "offline", "backend", "threads", "host", "port",
    "max_batch", "max_wait_ms", "queue_size", "log_level", "web_page", "detector",
)  # fmt: skip


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from simplepose.serving.access import access_policy
    from simplepose.serving.main import create_app

    settings = _settings(args, SERVE_OPTIONS)
    access_policy(settings)  # refuse an unprotected public bind before loading anything
    if settings.model is not None and not settings.model.exists():
        raise FileNotFoundError(f"model not found: {settings.model}")  # fail before listening
    server: uvicorn.Server | None = None

    def stop(_: BaseException) -> None:  # the model failed to load: nothing to serve
        if server is not None:
            server.should_exit = True

    app = create_app(settings, detector=load_settings_detector(settings), on_load_error=stop)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.graceful_timeout_s),
        workers=1,  # one process = one copy of the model and one executor per device
    )
    server = uvicorn.Server(config)
    page = " (web page at /)" if settings.web_page else ""
    where = settings.model or "the default model (resolved in the background)"
    print(f"serving {where} on http://{settings.host}:{settings.port}{page}", file=sys.stderr)
    _run_until_signal(server)
    loader = app.state.loader
    if not server.started or (loader is not None and loader.error is not None):
        return EXIT_FAILED
    return 0 if app.state.drained else EXIT_FAILED


def _run_until_signal(server: Any) -> None:
    """Run uvicorn; a SIGTERM it handled with a clean shutdown is not an error.

    uvicorn re-raises the signal it caught once it has shut down, which would end the process
    with -15 after a clean drain; a handler installed here receives that re-raise instead.
    (Ctrl-C keeps its usual meaning: exit 130.)
    """
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if received:
        log.info("stopped by SIGTERM")


def _image_paths(items: list[str]) -> list[Path]:
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


def _load_boxes_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    return read_json(path, "boxes file {image: [boxes]}", dict)


def _predict(args: argparse.Namespace) -> int:
    import cv2
    from simplepose.serving.boxes import boxes_from_list
    from simplepose.serving.errors import ServiceError
    from simplepose.serving.predictor import model_summary
    from simplepose.serving.results import persons_to_json
    from tqdm import tqdm

    from simplepose.drawing import draw_persons
    from simplepose.geometry import BoxError
    from simplepose.pipeline import PosePipeline, read_image

    settings = _settings(
        args,
        ("model", "device", "device_id", "cache_dir", "offline", "detector", "backend", "threads"),
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
    paths = _image_paths(args.images)
    boxes_by_image = _load_boxes_file(args.boxes)
    choice = _resolve(settings)
    model, device = _load(settings, choice.path)
    pipeline = PosePipeline(model, decode=args.decode or settings.decode)
    if args.render:
        args.render.mkdir(parents=True, exist_ok=True)
    images, errors = [], []
    for path in tqdm(paths, desc="predict", unit="image"):
        try:
            image = read_image(str(path))
            entry = boxes_by_image.get(str(path), boxes_by_image.get(path.name))
            if entry is not None:
                boxes, scores = boxes_from_list(entry, settings.max_boxes)
                source = "client boxes"
            else:
                found = detector.detect(image)
                boxes, scores, source = found.boxes, found.scores, found.detector
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
                "boxes_from": source,
                "persons": persons_to_json(persons),
            }
        )
        if args.render:
            out = args.render / (path.stem + ".png")
            drawn = draw_persons(image, persons.keypoints, persons.boxes, pipeline.in_vis_thre)
            cv2.imwrite(str(out), drawn)
    result = {
        "model": model_summary(model, device),
        "detector": detector.info.label,
        "keypoint_names": list(model.info.keypoint_names),
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
    serve = sub.add_parser(
        "serve",
        help="run the HTTP keypoint service (POST /keypoints)",
        description="Run the HTTP keypoint service: POST /keypoints, /keypoints/render, "
        "GET /healthz, /readyz, /metrics, /v1/model, /docs.",
        epilog=SERVE_EPILOG,
        formatter_class=fmt,
    )
    _add_model_options(serve)
    serve.add_argument("--host", help="bind address (default 127.0.0.1; 0.0.0.0 in containers)")
    serve.add_argument("--port", type=int, help="TCP port (default 8000)")
    serve.add_argument("--max-batch", type=int, help="most person crops per model call (16)")
    serve.add_argument("--max-wait-ms", type=float, help="how long a batch may wait to fill (5)")
    serve.add_argument("--queue-size", type=int, help="crops waiting before 503 (256)")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    serve.add_argument(
        "--web-page",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the web page at / (default on; --no-web-page: / answers 404)",
    )
    add_detector_option(serve)
    serve.set_defaults(func=_serve)

    predict = sub.add_parser(
        "predict",
        help="run the keypoint pipeline on image files offline",
        description="Run the same pipeline as the service on image files or folders and write "
        "the keypoints as JSON (optionally skeleton drawings).",
        epilog=PREDICT_EPILOG,
        formatter_class=fmt,
    )
    predict.add_argument("images", nargs="+", help="image files or folders of images")
    _add_model_options(predict)
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
