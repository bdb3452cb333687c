"""What a demo-model recipe costs and gives: build time and AP on its own training images.

The demo model (served when no real model can be had) is trained from scratch on the 8 COCO
images in ``serving/demo_data``. It cannot generalise; what a user sees on the sample images is
how well it fits them, so the quality number is COCO keypoint AP on those images (GT boxes,
flip test, DARK). Cost is the wall time of training + export, the part of ``make serve``'s
first start that the recipe decides.

    python bench/demo_recipe.py                                    # the shipped recipe
    python bench/demo_recipe.py --input 64x96 --deconv 128 --steps 80 --lr 2e-3

Each run starts a fresh process state only for MindSpore's device; run one recipe per process
when comparing times. Numbers on a shared machine are noisy; the load average is reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

from _machine import machine  # noqa: E402

from simplepose.serving.demo import (  # noqa: E402
    DEMO_DATA,
    DEMO_SPLIT,
    DEMO_STEPS,
    build_demo_model,
    demo_config,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="WxH, e.g. 64x96 (default: the shipped recipe's)")
    parser.add_argument("--deconv", type=int, help="deconv channels")
    parser.add_argument("--steps", type=int, help="training steps")
    parser.add_argument("--lr", type=float, help="Adam learning rate")
    parser.add_argument("--batch", type=int, help="batch size")
    args = parser.parse_args()

    from simplepose.training.evaluate import evaluate

    config = demo_config()
    model = config.model
    if args.input:
        w, h = (int(v) for v in args.input.split("x"))
        model = dataclasses.replace(model, input_size=(w, h), heatmap_size=(w // 4, h // 4))
    if args.deconv:
        model = dataclasses.replace(model, deconv_channels=args.deconv)
    train = config.train
    if args.lr:
        train = dataclasses.replace(train, lr=args.lr)
    if args.batch:
        train = dataclasses.replace(train, batch_size=args.batch)
    config = dataclasses.replace(config, model=model, train=train).validate()
    steps = args.steps or DEMO_STEPS
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        directory = build_demo_model(Path(tmp), config, steps, progress=False)
        seconds = time.perf_counter() - start
        result = evaluate(directory, DEMO_DATA, DEMO_SPLIT, boxes="gt", decode="dark")
    print(
        json.dumps(
            {
                "input_wh": list(config.model.input_size),
                "deconv_channels": config.model.deconv_channels,
                "steps": steps,
                "lr": config.train.lr,
                "batch": config.train.batch_size,
                "build_s": round(seconds, 1),
                "train_image_ap": round(float(result.stats["AP"]), 3),
                "train_image_ap50": round(float(result.stats["AP50"]), 3),
                "load_avg_1min_before": round(load, 2),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
