"""What INT8 costs in accuracy: COCO AP of the FP32 and INT8 ONNX Runtime graphs of one trained
model, and how far INT8 moves each keypoint (in image pixels).

The model is the one ``bench/overfit.py`` trains (real learned weights; train it once with
``--output RUN_DIR`` and pass that run directory here). Both graphs come from one export
(``simplepose export --format onnx --quantize int8 --calibration DATA``, calibrated on the
training-split persons); both are evaluated on the same coco-mini images with ground-truth boxes
(flip test fused, DARK decode), as overfit.py evaluates. bench/precision_quality.py measures
every reduced precision on val2017 instead, images neither training nor calibration saw. The displacement compares the two
models' keypoints person by person on those images. Goal: AP drop <= 0.01 and median
displacement <= 0.5 px; if INT8 misses it, it stays off by default (``backend auto`` never
picks it).

    python bench/overfit.py --data ../shared/data/coco-mini --output /tmp/overfit
    python bench/quantization_quality.py --data ../shared/data/coco-mini --run-dir /tmp/overfit
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

import numpy as np  # noqa: E402
from _machine import machine
from precision_quality import person_keypoints

SPLIT = "train2017"  # overfit.py trains and evaluates on these images
GOAL_AP_DROP = 0.01
GOAL_MEDIAN_PX = 0.5


def displacement(fp32, int8, data: Path) -> np.ndarray:
    """Distances (image px) between the FP32 and INT8 keypoints of every GT person and joint."""
    xy = [person_keypoints(model, data, SPLIT) for model in (fp32, int8)]
    return np.linalg.norm(xy[0] - xy[1], axis=-1).ravel()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="coco-mini root")
    p.add_argument("--run-dir", type=Path, required=True, help="overfit.py --output directory")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-quant"))
    p.add_argument("--batch-sizes", default="1,2,4,8,16")
    args = p.parse_args()

    from simplepose.config.model_info import ModelInfo
    from simplepose.export.exporter import export_model
    from simplepose.runtime.buckets import parse_batch_sizes
    from simplepose.runtime.device import select_device
    from simplepose.runtime.model_loader import load_model
    from simplepose.runtime.threads import thread_settings
    from simplepose.training.evaluate import evaluate

    select_device("CPU")
    sizes = parse_batch_sizes(args.batch_sizes)
    out = args.workdir / "overfit_onnx"
    ckpt = args.run_dir / "last.ckpt"
    done = (out / "model.json").is_file() and ModelInfo.load(out).bucket_sizes("onnx", "int8")
    if not done:
        export_model(
            ckpt, out, fmt="onnx", batch_sizes=sizes, quantize="int8", calibration=args.data
        )
    models = {b: load_model(out, backend=b) for b in ("onnxruntime", "onnxruntime-int8")}
    ap = {}
    for name, model in models.items():
        result = evaluate(model, args.data, SPLIT, boxes="gt", decode="dark", flip=True)
        ap[name] = result.stats["AP"]
        print(f"{name}: {result.describe()}", file=sys.stderr)
    dist = displacement(models["onnxruntime"], models["onnxruntime-int8"], args.data)
    drop = ap["onnxruntime"] - ap["onnxruntime-int8"]
    median, p95 = float(np.median(dist)), float(np.percentile(dist, 95))
    meets = drop <= GOAL_AP_DROP and median <= GOAL_MEDIAN_PX
    print(json.dumps({
        "ap_fp32": round(ap["onnxruntime"], 4),
        "ap_int8": round(ap["onnxruntime-int8"], 4),
        "ap_drop": round(drop, 4),
        "median_displacement_px": round(median, 3),
        "p95_displacement_px": round(p95, 3),
        "max_displacement_px": round(float(dist.max()), 3),
        "keypoints_compared": int(dist.size),
        "meets_goal": meets,
        "goal": {"ap_drop": GOAL_AP_DROP, "median_px": GOAL_MEDIAN_PX},
        "quantization": ModelInfo.load(out).quantization.get("int8", {}),
        "checkpoint": str(ckpt),
        "threads": thread_settings().to_dict(),
        "machine": machine(),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
