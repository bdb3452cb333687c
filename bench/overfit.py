"""Overfit check of the whole loop: train a small preset on the coco-mini train persons, then
evaluate on those same images with ground-truth boxes (flip test, DARK, OKS NMS).

High AP proves targets, loss, optimiser, decoding, back-projection and COCOeval fit together.
Last line: JSON {"ap", "steps", "seconds", ...}.

    python bench/overfit.py --data ../shared/data/coco-mini
    python bench/overfit.py --dataset upper9.yaml   # own keypoints: its train split, its sigmas

(``python bench/_custom_dataset.py ../shared/data/coco-mini /tmp/upper9`` writes the nine-point
dataset of the tests.)
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

from _machine import machine

import simplepose  # noqa: F401  (oneDNN CPU cap before MindSpore loads)
from simplepose.config.loading import load_config
from simplepose.training.coco import DataSource, person_samples
from simplepose.training.dataset import Shard, steps_per_epoch
from simplepose.training.dataset_file import load_dataset_file
from simplepose.training.evaluate import evaluate
from simplepose.training.trainer import TrainOptions, train

COCO_SPLIT, DATASET_SPLIT = "train2017", "train"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="coco-mini root")
    source.add_argument("--dataset", type=Path, help="dataset file (own keypoints)")
    p.add_argument("--preset", default="res18_128x96")
    p.add_argument("--steps", type=int, default=1200, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--save-every", type=int, default=25, help="epochs between checkpoints")
    p.add_argument("--output", type=Path, default=None, help="run dir (default: a temp dir)")
    p.add_argument("overrides", nargs="*", help="extra config overrides")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    data: DataSource = args.data
    split = COCO_SPLIT
    base = load_config(args.preset, [f"train.batch_size={args.batch_size}"])
    if args.dataset is not None:
        data, split = load_dataset_file(args.dataset), DATASET_SPLIT
        base = base.with_keypoints(data.keypoints)
    n = len(person_samples(data, split, base))
    spe = steps_per_epoch(n, args.batch_size, Shard())
    epochs = math.ceil(args.steps / spe)
    # Light augmentation: flips (the flip test needs them), small scale jitter, no rotation.
    config = load_config(
        args.preset,
        [
            f"train.batch_size={args.batch_size}",
            f"train.epochs={epochs}",
            f"train.lr={args.lr}",
            f"train.lr_steps=[{int(epochs * 0.7)},{int(epochs * 0.9)}]",
            "train.log_every=50",
            "data.scale_factor=0.1",
            "data.rotation_prob=0.0",
            # sub-pixel targets: at 128x96 the rounded reference targets cap even a perfect
            # model near AP 0.9 (tests/training/test_evaluate.py measures the ceiling)
            "data.unbiased_targets=true",
            *args.overrides,
        ],
    ).with_keypoints(base.keypoints)
    run_dir = args.output or Path(tempfile.mkdtemp(prefix="overfit_"))
    print(f"{n} persons, {spe} steps/epoch, {epochs} epochs, run dir {run_dir}", flush=True)
    t0 = time.perf_counter()
    summary = train(
        config,
        TrainOptions(
            data_root=data,
            run_dir=run_dir,
            train_split=split,
            progress=False,
            save_every=args.save_every,
        ),
    )
    train_s = time.perf_counter() - t0
    result = evaluate(run_dir / "last.ckpt", data, split, boxes="gt", decode="dark", flip=True)
    seconds = time.perf_counter() - t0
    print(result.describe())
    print(result.summary)
    print(
        json.dumps(
            {
                "ap": round(result.stats["AP"], 4),
                "ap50": round(result.stats["AP50"], 4),
                "steps": summary.state.global_step,
                "seconds": round(seconds, 1),
                "train_seconds": round(train_s, 1),
                "final_loss": summary.last_loss,
                "preset": args.preset,
                "batch_size": args.batch_size,
                "persons": n,
                "keypoints": base.keypoints.name,
                "num_keypoints": base.keypoints.num_keypoints,
                "machine": machine(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
