"""``simplepose evaluate``: COCO keypoint AP of a checkpoint or an exported model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simplepose.commandline.errors import CLIError
from simplepose.pose.codec import DECODE_METHODS
from simplepose.training.cli_args import add_dataset_arg, add_device_args, data_source
from simplepose.training.keypoint_ap import format_table, write_csv

EVAL_EPILOG = """\
examples:
  simplepose evaluate --checkpoint runs/r50/best.ckpt --data /data/coco --split val2017
  simplepose evaluate --model models/r50 --data /data/coco \\
      --boxes COCO_val2017_detections_AP_H_56_person.json --output results.json
  # your own keypoints: the val split of a dataset file, with its OKS sigmas
  simplepose evaluate --checkpoint runs/f9/best.ckpt --dataset factory9.yaml

Besides COCO AP it prints a per-keypoint table (AP of each joint: COCO AP with the OKS of that
joint alone; 'labelled': persons carrying it) and saves it as CSV: --keypoint-table FILE, else
<output>_keypoints.csv beside --output, else keypoint_ap_<split>.csv beside --checkpoint.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    text = "compute COCO keypoint AP of a checkpoint or exported model"
    e = sub.add_parser(
        "evaluate",
        help=text,
        description=text + " (pycocotools COCOeval, OKS NMS, rescoring as in the reference).",
        epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="pose checkpoint (.ckpt) to evaluate")
    src.add_argument(
        "--model",
        help="exported model directory (model.json + graphs) or a pose name of 'simplepose "
        "weights list' (the model hub, as serve and predict resolve it)",
    )
    e.add_argument("--data", type=Path, default=None, help="COCO root")
    add_dataset_arg(e)
    e.add_argument(
        "--split",
        default=None,
        help="split to evaluate (default val2017 of --data, val of --dataset)",
    )
    e.add_argument(
        "--boxes",
        default="gt",
        help="'gt' (ground-truth person boxes), 'detector' (run --detector on the images) or "
        "a COCO detection-results JSON file",
    )
    e.add_argument(
        "--detector",
        default=None,
        help="person detector for --boxes detector: auto (default: rtmdet-nano-person; none, "
        "labelled, when unavailable), hog, none, a name from 'simplepose weights list' or an ONNX "
        "detector path (see 'simplepose detect --help' for its preprocessing options)",
    )
    e.add_argument(
        "--score-thre",
        type=float,
        default=None,
        help="drop detections below this score (default: the config's test.image_thre)",
    )
    e.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="flip test (default: the config's test.flip_test; always on for flip-fused models)",
    )
    e.add_argument(
        "--decode",
        choices=DECODE_METHODS,
        default=None,
        help="heatmap decoding (default: the config's test.decode)",
    )
    e.add_argument("--batch-size", type=int, default=None, help="crops per model call")
    e.add_argument("--output", type=Path, default=None, help="write COCO keypoint results here")
    e.add_argument(
        "--keypoint-table",
        type=Path,
        default=None,
        help="write the per-keypoint AP table here (CSV; default: see below)",
    )
    add_device_args(e)
    e.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    args.split = args.split or ("val" if args.dataset else "val2017")
    data = data_source(args.data, args.dataset, [args.split])
    if args.boxes not in ("gt", "detector") and not Path(args.boxes).is_file():
        raise FileNotFoundError(f"--boxes: detection results file not found: {args.boxes}")
    if args.checkpoint is not None and not args.checkpoint.exists():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    if args.batch_size is not None and args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")

    from simplepose.commandline.options import from_env, hub_options
    from simplepose.hub.resolve import NO_BUILDERS, resolve_detector, resolve_model
    from simplepose.runtime.on_device import load_on_device
    from simplepose.training.evaluate import evaluate

    options = hub_options(from_env(args, ("cache_dir", "offline")))  # the service's cache
    source = args.checkpoint
    if source is None:  # the same hub as serve, predict and PoseEstimator
        source = resolve_model(args.model, options, getattr(args, "builders", NO_BUILDERS)).path
    detector = None
    if args.boxes == "detector":
        detector = resolve_detector(args.detector, options)
        print(f"person detector: {detector.info.label}", file=sys.stderr)
    elif args.detector:
        raise CLIError("--detector is only used with --boxes detector")
    model, _ = load_on_device(source, args.device, args.device_id, flip=args.flip)
    result = evaluate(
        model,
        data,
        args.split,
        boxes=args.boxes,
        decode=args.decode,
        flip=args.flip,
        score_thre=args.score_thre,
        batch_size=args.batch_size,
        output=args.output,
        detector=detector,
        per_keypoint=True,
    )
    flip = model.info.flip_fused or (
        model.info.config.test.flip_test if args.flip is None else args.flip
    )
    print(f"model: {source} | split: {args.split} | flip test: {'on' if flip else 'off'}")
    print(result.describe())
    print(result.summary)
    print(json.dumps({k: round(v, 4) for k, v in result.stats.items()}))
    print(f"per keypoint (OKS of one joint; worst first):\n{format_table(result.per_keypoint)}")
    table = _table_path(args)
    if table is not None:
        print(f"per-keypoint table written to {write_csv(result.per_keypoint, table)}")
    if args.output:
        print(f"results written to {args.output}")
    return 0


def _table_path(args: argparse.Namespace) -> Path | None:
    if args.keypoint_table is not None:
        return args.keypoint_table
    if args.output is not None:
        return args.output.with_name(f"{args.output.stem}_keypoints.csv")
    if args.checkpoint is not None:
        return args.checkpoint.with_name(f"keypoint_ap_{Path(args.split).name}.csv")
    return None
