"""What each reduced precision costs in accuracy on images the model and the calibration never
saw: COCO AP and keypoint displacement (image px, against FP32) per precision, on val2017.

The model is the one ``bench/overfit.py`` trains on the coco-mini train2017 persons (pass its
``--output`` directory). One export gives the FP32 and INT8 ONNX buckets; INT8 is calibrated on
the train2017 persons (``simplepose.export.quantize.CALIBRATION_SPLIT``), so val2017 is held out
from training and calibration alike. Every backend of ``simplepose.runtime.backends`` that runs
those ONNX graphs is measured (ONNX Runtime FP32 and INT8; a bf16 backend too where the package
offers one), each in its own process (``ONEDNN_MAX_CPU_ISA=ALL``: nothing caps its oneDNN),
with ground-truth boxes, flip test fused, DARK decode. The displacement compares each
precision's keypoints with FP32's, person by person, on the same crops.

An overfit model is a weak model on held-out images: its val AP is low, so an AP drop there
says little. Every precision is also scored on train2017 (``splits`` in the JSON), where the
model is strong (AP about 0.95 after the full 1200 steps) and an AP drop shows: no calibration
touches bf16, so for bf16 those images are as unseen as any; INT8 is calibrated on 64 of their
persons. The displacement does not depend on how good the model is.

    python bench/overfit.py --data ../shared/data/coco-mini --output /tmp/overfit
    python bench/precision_quality.py --data ../shared/data/coco-mini --run-dir /tmp/overfit
    python bench/precision_quality.py --data ../shared/data/coco-mini --small-random  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402
from _rounds import clean_env  # noqa: E402

EVAL_SPLIT = "val2017"  # held out from training and calibration: the headline figures
TRAIN_SPLIT = "train2017"  # the model's own images: where AP can separate the precisions
REFERENCE = "onnxruntime"  # FP32
# Goals per precision: the bf16 bar (AP drop <= 0.005); INT8 stays opt-in unless it
# meets quantization_quality.py's bar.
GOAL_AP_DROP = {"bf16": 0.005, "int8": 0.01}
GOAL_MEDIAN_PX = 0.5


def person_keypoints(model, data: Path, split: str) -> np.ndarray:
    """(persons, joints, 2) image-px keypoints of every GT person of ``split``, unsorted, in a
    fixed order: person i of one model is person i of another."""
    from simplepose.pose.geometry import heatmap_to_image
    from simplepose.pose.pipeline import PosePipeline, read_image
    from simplepose.training.coco import gt_boxes, image_dir, load_annotations

    pipeline = PosePipeline(model, decode="dark")
    items = gt_boxes(load_annotations(data, split), image_dir(data, split))
    out = []
    for item in items.values():
        if not len(item.boxes):
            continue
        crops = pipeline.preprocess(read_image(str(item.image_path)), item.boxes, item.scores)
        heatmap_xy = pipeline.decode_outputs(pipeline.infer(crops.batch))[0]
        out.append(heatmap_to_image(heatmap_xy, crops.centers, crops.scales,
                                    model.info.model.heatmap_size))  # fmt: skip
    return np.concatenate(out)


def export_onnx(checkpoint: Path, out: Path, data: Path, sizes: tuple[int, ...]) -> Path:
    """FP32 + INT8 (calibrated on the train split) ONNX buckets of ``checkpoint``, once."""
    from simplepose.config.model_info import ModelInfo
    from simplepose.export.exporter import export_model

    done = (out / "model.json").is_file() and ModelInfo.load(out).bucket_sizes("onnx", "int8")
    if not done:
        export_model(checkpoint, out, fmt="onnx", batch_sizes=sizes, quantize="int8",
                     calibration=data)  # fmt: skip
    return out


def worker(backend: str, model_dir: Path, data: Path, result: Path) -> None:
    """One backend: AP and keypoints of each split into ``result`` (.npz)."""
    from simplepose.runtime.model_loader import load_model
    from simplepose.training.evaluate import evaluate

    model = load_model(model_dir, backend=backend)
    arrays = {}
    for split in (EVAL_SPLIT, TRAIN_SPLIT):
        ap = evaluate(model, data, split, boxes="gt", decode="dark", flip=True)
        print(f"{backend} {split}: {ap.describe()}", file=sys.stderr)
        arrays[f"xy_{split}"] = person_keypoints(model, data, split)
        arrays[f"ap_{split}"], arrays[f"ap50_{split}"] = ap.stats["AP"], ap.stats["AP50"]
    np.savez(result, **arrays)


def compare(result: dict[str, np.ndarray], ref: dict[str, np.ndarray], split: str, goal: float):
    """AP drop and keypoint displacement of one backend's ``result`` against FP32's ``ref``."""
    dist = np.linalg.norm(result[f"xy_{split}"] - ref[f"xy_{split}"], axis=-1).ravel()
    drop = float(ref[f"ap_{split}"] - result[f"ap_{split}"])
    median = float(np.median(dist))
    return {
        "ap": round(float(result[f"ap_{split}"]), 4),
        "ap50": round(float(result[f"ap50_{split}"]), 4),
        "ap_drop": round(drop, 4),
        "median_displacement_px": round(median, 3),
        "p95_displacement_px": round(float(np.percentile(dist, 95)), 3),
        "max_displacement_px": round(float(dist.max()), 3),
        "keypoints_compared": int(dist.size),
        "meets_goal": drop <= goal and median <= GOAL_MEDIAN_PX,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    p.add_argument("--run-dir", type=Path, help="overfit.py --output directory")
    p.add_argument("--checkpoint", type=Path, help="default: RUN_DIR/last.ckpt")
    p.add_argument("--small-random", action="store_true", help="random R18 96x64 (smoke test)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-precision"))
    p.add_argument("--batch-sizes", default="1,2,4,8,16")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.worker, args.model_dir, args.data, args.result)
    trained = args.checkpoint or (args.run_dir and args.run_dir / "last.ckpt")
    if bool(trained) == args.small_random:
        p.error("give --run-dir or --checkpoint (a trained model), or --small-random")

    import simplepose  # noqa: F401  (MindSpore's oneDNN cap before it loads: this process exports)
    from simplepose.config.model_info import ModelInfo
    from simplepose.export.quantize import CALIBRATION_SPLIT
    from simplepose.runtime.backends import BACKEND_SPECS, available_backends
    from simplepose.runtime.buckets import parse_batch_sizes
    from simplepose.runtime.device import select_device

    select_device("CPU")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.small_random:
        from _service import small_checkpoint

        checkpoint, out = small_checkpoint(args.workdir), args.workdir / "small_random_onnx"
    else:
        checkpoint = trained
        out = args.workdir / f"onnx_{checkpoint.parent.name}_{checkpoint.stem}"
    model_dir = export_onnx(checkpoint, out, args.data, parse_batch_sizes(args.batch_sizes))
    info = ModelInfo.load(model_dir)
    backends = [
        b for b in available_backends(info, True) if BACKEND_SPECS[b].runtime != "mindspore"
    ]
    results = {}
    for b in backends:
        path = args.workdir / f"precision_{b}.npz"
        cmd = [sys.executable, __file__, "--worker", b, "--model-dir", str(model_dir),
               "--data", str(args.data), "--result", str(path)]  # fmt: skip
        subprocess.run(cmd, env=clean_env({"ONEDNN_MAX_CPU_ISA": "ALL"}), check=True)
        with np.load(path) as z:
            results[b] = dict(z)
    ref = results[REFERENCE]
    precisions = {}
    for b, r in results.items():
        precision = BACKEND_SPECS[b].precision
        goal = GOAL_AP_DROP.get(precision, 0.005)
        held_out, train = (compare(r, ref, split, goal) for split in (EVAL_SPLIT, TRAIN_SPLIT))
        if b == REFERENCE:
            held_out, train = ({k: e[k] for k in ("ap", "ap50")} for e in (held_out, train))
        precisions[precision if precision not in precisions else b] = {
            "backend": b, **held_out, TRAIN_SPLIT: train,
        }  # fmt: skip
    print(json.dumps({
        "precisions": precisions,
        "eval_split": EVAL_SPLIT,
        "calibration_split": CALIBRATION_SPLIT,
        "persons": int(len(ref[f"xy_{EVAL_SPLIT}"])),
        "train_split": TRAIN_SPLIT,
        "train_persons": int(len(ref[f"xy_{TRAIN_SPLIT}"])),
        "bf16": "measured" if any(e["backend"] != REFERENCE and BACKEND_SPECS[e["backend"]]
                                  .precision == "bf16" for e in precisions.values())
        else "no bf16 backend in simplepose.runtime.backends",
        "goal": {"ap_drop": GOAL_AP_DROP, "median_px": GOAL_MEDIAN_PX},
        "checkpoint": str(checkpoint),
        "model": f"R{info.model.depth} {info.model.input_size[1]}x{info.model.input_size[0]}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine": machine(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
