"""Raw photos end to end: images/s of the service with its person detector vs the bare parts.

R50 256x192 with the flip test fused (random weights: speed does not depend on them), exported
to MindIR, served by ``simplepose serve --detector D`` on 127.0.0.1. In one run, interleaved
in rounds (the machine is shared):

1. service, no boxes: 8 clients post coco-mini val images without boxes (detector + pose);
2. service, client boxes: the same images with their ground-truth person boxes (pose only);
3. bare detector: ``detector.detect_batch`` on the same images in this process;
4. bare pose: the MindIR graph on the crops of the boxes the bare detector found, batch
   --max-batch.

"series" = images / (bare detector seconds + bare pose seconds for those images): what running
the two models back to back, with nothing else, would give. Goal: service >= 0.9 x series.
The detector's share is its part of the series time (and of the service's ``timing_ms``).

    python bench/detect_pose_throughput.py --data ../shared/data/coco-mini \
        --detector ../shared/models/rtmdet-nano-person

Last line: JSON with service_images_per_s, service_with_boxes_images_per_s,
bare_detector_images_per_s, series_images_per_s, ratio_to_series, detector_share, ...
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _coco import val_person_boxes  # noqa: E402
from _machine import machine  # noqa: E402
from _service import (  # noqa: E402
    R50_PRESET,
    ServiceProcess,
    post_keypoints,
    preset_random_checkpoint,
    preset_tag,
)


def build_mindir(workdir: Path, preset: str = R50_PRESET) -> Path:
    """The random-weight ``preset`` model, flip test fused, exported once as a dynamic-batch
    MindIR."""
    from simplepose.export.exporter import export_model

    mindir = workdir / f"{preset_tag(preset)}_mindir"
    if not (mindir / "model.json").is_file():
        export_model(preset_random_checkpoint(workdir, preset), mindir, flip=True)
    return mindir


def post_all(url: str, payloads: list[tuple[bytes, str | None]], clients: int, total: int):
    """``total`` requests from ``clients`` threads; (seconds, [timing_ms of each response])."""
    seconds, answers = post_keypoints(url, payloads, clients, total)
    return seconds, [a.body["timing_ms"] for a in answers]


def bare_round(detector, model, images, max_batch: int) -> tuple[float, float, int]:
    """Seconds of the bare detector on all images, of the bare pose model on the crops of what
    it found, and the number of persons."""
    from simplepose.pose.pipeline import PosePipeline

    pipeline = PosePipeline(model)
    start = time.perf_counter()
    found = []
    for i in range(0, len(images), 4):
        found += detector.detect_batch(images[i : i + 4])
    det_seconds = time.perf_counter() - start
    crops = [
        pipeline.preprocess(im, f.boxes, f.scores).batch
        for im, f in zip(images, found, strict=True)
    ]
    pool = np.concatenate(crops) if crops else np.zeros((0,))
    start = time.perf_counter()
    for i in range(0, len(pool), max_batch):
        pipeline.infer(pool[i : i + max_batch])
    return det_seconds, time.perf_counter() - start, len(pool)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    parser.add_argument(
        "--detector", default="auto", help="auto (default), hog, a cached registry name or a path"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--requests", type=int, default=48, help="per service mode, all rounds")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--preset", default=R50_PRESET, help="the random-weight pose model")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    import simplepose  # noqa: F401
    from simplepose.detection import load_detector
    from simplepose.pose.pipeline import read_image
    from simplepose.runtime.device import select_device
    from simplepose.runtime.model_loader import load_model

    select_device("CPU")
    mindir = build_mindir(args.workdir, args.preset)
    picked = val_person_boxes(args.data, args.images)
    if not picked:
        raise SystemExit(f"no val images with persons in {args.data}")
    images = [read_image(str(p)) for p, _ in picked]
    raw = [p.read_bytes() for p, _ in picked]
    without = [(d, None) for d in raw]
    with_boxes = [(d, json.dumps(b)) for d, (_, b) in zip(raw, picked, strict=True)]
    detector = load_detector(args.detector, device="CPU", offline=True)
    model = load_model(mindir)
    bare_round(detector, model, images[:2], args.max_batch)  # warm-up

    totals = {"det": 0.0, "pose": 0.0, "bare_images": 0, "persons": 0, "svc": 0.0,
              "svc_boxes": 0.0, "svc_images": 0, "svc_boxes_images": 0}  # fmt: skip
    timings: list[dict] = []
    per_round = max(1, args.requests // args.rounds)
    service_args = ["--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms),
                    "--detector", args.detector, "--device", "CPU", "--offline"]  # fmt: skip
    with ServiceProcess(mindir, args.workdir / "serve_detect.log", service_args) as service:
        post_all(service.url, without, args.clients, args.clients)  # warm-up
        for r in range(args.rounds):
            det_s, pose_s, persons = bare_round(detector, model, images, args.max_batch)
            totals["det"] += det_s
            totals["pose"] += pose_s
            totals["bare_images"] += len(images)
            totals["persons"] += persons
            seconds, round_timings = post_all(service.url, without, args.clients, per_round)
            totals["svc"] += seconds
            totals["svc_images"] += per_round
            timings += round_timings
            seconds, _ = post_all(service.url, with_boxes, args.clients, per_round)
            totals["svc_boxes"] += seconds
            totals["svc_boxes_images"] += per_round
            print(f"round {r + 1}/{args.rounds}: service {totals['svc_images'] / totals['svc']:.2f}"
                  f" images/s, series {totals['bare_images'] / (totals['det'] + totals['pose']):.2f}"
                  " images/s", file=sys.stderr)  # fmt: skip
    service_rate = totals["svc_images"] / totals["svc"]
    series = totals["bare_images"] / (totals["det"] + totals["pose"])
    detect_ms = statistics.mean(t["detect"] for t in timings)
    total_ms = statistics.mean(t["total"] for t in timings)
    result = {
        "detector": detector.info.label,
        "service_images_per_s": round(service_rate, 3),
        "service_with_boxes_images_per_s": round(totals["svc_boxes_images"] / totals["svc_boxes"], 3),
        "bare_detector_images_per_s": round(totals["bare_images"] / totals["det"], 3),
        "bare_pose_persons_per_s": round(totals["persons"] / totals["pose"], 3) if totals["pose"] else None,
        "series_images_per_s": round(series, 3),
        "ratio_to_series": round(service_rate / series, 3),
        "goal_ratio": 0.9,
        "detector_share_of_series": round(totals["det"] / (totals["det"] + totals["pose"]), 3),
        "detector_share_of_service_latency": round(detect_ms / total_ms, 3),
        "detected_persons_per_image": round(totals["persons"] / totals["bare_images"], 2),
        "gt_persons_per_image": round(statistics.mean(len(b) for _, b in picked), 2),
        "images": len(images),
        "clients": args.clients,
        "requests_per_mode": totals["svc_images"],
        "max_batch": args.max_batch,
        "model": f"{args.preset}, random weights",
        "note": "2 shared CPU cores; numbers are noisy",
        "machine": machine(),
    }  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
