"""Fine-tuning pays: steps a custom-keypoint model needs to reach a target AP when it starts
from a COCO-17 pose checkpoint (``train --init-from``: backbone and deconvolutions kept, final
layer re-initialised for the other keypoint set) against the same recipe from scratch.

Both runs use the ``bench/overfit.py`` recipe (small preset, light augmentation, sub-pixel
targets) on the dataset file's ``train`` split and are validated on those same images every
``--eval-every`` steps (the trainer's validation: GT boxes, flip test, DARK, the dataset's OKS
sigmas); a run stops at the first validation reaching ``--target`` or after ``--max-steps``. Last line: JSON with both step
counts, the AP curves, seconds and the machine.

    python bench/overfit.py --data ../shared/data/coco-mini --output /tmp/overfit
    python bench/_custom_dataset.py ../shared/data/coco-mini /tmp/upper9
    python bench/finetune.py --dataset /tmp/upper9/upper9.yaml --init /tmp/overfit
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import machine

import simplepose  # noqa: F401  (oneDNN CPU cap before MindSpore loads)
from simplepose.config.loading import load_config
from simplepose.config.presets import Config
from simplepose.training.coco import DataSource, person_samples
from simplepose.training.dataset import Shard, steps_per_epoch
from simplepose.training.dataset_file import load_dataset_file
from simplepose.training.init_from import resolve_source
from simplepose.training.run_dir import METRICS_FILE, read_metrics
from simplepose.training.trainer import TrainOptions, train

SPLIT = "train"


def recipe(preset: str, batch_size: int, lr: float, epochs: int, extra: list[str]) -> list[str]:
    """``bench/overfit.py``'s overrides for a schedule of ``epochs``."""
    return [
        f"train.batch_size={batch_size}",
        f"train.epochs={epochs}",
        f"train.lr={lr}",
        f"train.lr_steps=[{int(epochs * 0.7)},{int(epochs * 0.9)}]",
        "train.log_every=50",
        "data.scale_factor=0.1",
        "data.rotation_prob=0.0",
        "data.unbiased_targets=true",
        *extra,
    ]


def run_until(
    config: Config,
    data: DataSource,
    run_dir: Path,
    init: Path | None,
    args: argparse.Namespace,
    spe: int,
) -> dict[str, Any]:
    """One run, validated on its training images every ``--eval-every`` steps (rounded to whole
    epochs), stopping at the first validation reaching ``--target``."""
    every = max(1, round(args.eval_every / spe))
    started = time.perf_counter()
    train(
        config,
        TrainOptions(data_root=data, run_dir=run_dir, train_split=SPLIT, val_split=SPLIT,
                     val_every=every, save_every=every, progress=False, init_from=init,
                     max_steps=args.max_steps, stop_at_ap=args.target, report=False),
    )  # fmt: skip
    curve = [
        (r["global_step"], round(r["val_ap"], 4))
        for r in read_metrics(run_dir / METRICS_FILE)
        if r["kind"] == "epoch" and r.get("val_ap") is not None
    ]
    print(f"{run_dir.name}: {curve}", flush=True)
    return {
        "steps_to_target": next((s for s, ap in curve if ap >= args.target), None),
        "curve": curve,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", type=Path, required=True, help="dataset file (custom keypoints)")
    p.add_argument("--init", required=True, help="COCO-17 pose checkpoint or run dir to start from")
    p.add_argument("--preset", default="res18_128x96")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-steps", type=int, default=1200, help="budget of each run")
    p.add_argument("--eval-every", type=int, default=100, help="steps between evaluations")
    p.add_argument("--target", type=float, default=0.8, help="AP to reach")
    p.add_argument("--output", type=Path, default=None, help="parent of both run dirs")
    p.add_argument("overrides", nargs="*", help="extra config overrides (both runs)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    if args.max_steps < 1 or args.eval_every < 1:
        p.error("--max-steps and --eval-every must be >= 1")

    data = load_dataset_file(args.dataset)
    init = resolve_source(args.init)
    base = load_config(args.preset, [f"train.batch_size={args.batch_size}"])
    base = base.with_keypoints(data.keypoints)
    n = len(person_samples(data, SPLIT, base))
    spe = steps_per_epoch(n, args.batch_size, Shard())
    epochs = math.ceil(args.max_steps / spe)
    config = load_config(
        args.preset, recipe(args.preset, args.batch_size, args.lr, epochs, args.overrides)
    ).with_keypoints(data.keypoints)
    out = args.output or Path(tempfile.mkdtemp(prefix="finetune_"))
    print(f"{n} instances of {data.keypoints.num_keypoints} keypoints, {spe} steps/epoch, "
          f"init {init}, runs in {out}", flush=True)  # fmt: skip
    finetuned = run_until(config, data, out / "finetuned", init, args, spe)
    scratch = run_until(config, data, out / "scratch", None, args, spe)
    a, b = finetuned["steps_to_target"], scratch["steps_to_target"]
    print(
        json.dumps(
            {
                "target_ap": args.target,
                "finetuned_steps": a,
                "scratch_steps": b,
                "fewer_steps": a is not None and (b is None or a < b),
                "finetuned": finetuned,
                "scratch": scratch,
                "init": str(init),
                "dataset": str(args.dataset),
                "keypoints": data.keypoints.num_keypoints,
                "instances": n,
                "preset": args.preset,
                "batch_size": args.batch_size,
                "lr": args.lr,
                "max_steps": args.max_steps,
                "eval_every": args.eval_every,
                "machine": machine(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
