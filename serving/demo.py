"""The demo model: served only when no real model can be had, and labelled ``demo`` everywhere.

A small ResNet-18 (96x64 input, 128-channel head) trained from scratch for a bounded number of
steps (80 by default) on the handful of COCO images shipped in ``serving/demo_data`` (see
ATTRIBUTION.md there) by the training stage's ``train()``, then exported by the export stage's
``export_model()``. It is built on the first run that needs it and cached under
``<cache_dir>/demo/``; its keypoints are rough.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from simplepose.config.model_info import MODEL_JSON, ModelInfo
from simplepose.config.presets import Config, get_preset

log = logging.getLogger(__name__)

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
DEMO_SPLIT = "train2017"
DEMO_PRESET = "res18_128x96"  # ResNet-18, shrunk below (input, head)
DEMO_INPUT_SIZE = (64, 96)  # (w, h): a quarter of the pixels of 96x128, same aspect
DEMO_DECONV_CHANNELS = 128
DEMO_NAME = "demo_res18_96x64"
DEMO_VERSION = "v3"  # bump when the recipe changes, so stale cached demos are rebuilt
DEMO_BATCH = 8  # 23 persons: 2 steps per epoch
DEMO_LR = 2e-3
DEMO_STEPS = 80  # the default of SIMPLEPOSE_DEMO_TRAIN_STEPS
DEMO_MAX_EPOCHS = 100_000  # the step budget ends the run, not the epoch count


def demo_config() -> Config:
    """The demo recipe. Measured with ``bench/demo_recipe.py``: this one builds in ~0.37x the
    time of the earlier 96x128 / 256-channel / 160-step recipe, and both score COCO AP 0.0 on
    their own 23 training persons: the demo shows the plumbing, not pose quality."""
    base = get_preset(DEMO_PRESET)
    w, h = DEMO_INPUT_SIZE
    model = dataclasses.replace(
        base.model,
        input_size=DEMO_INPUT_SIZE,
        heatmap_size=(w // 4, h // 4),
        deconv_channels=DEMO_DECONV_CHANNELS,
    )
    train = dataclasses.replace(
        base.train, batch_size=DEMO_BATCH, lr=DEMO_LR, lr_steps=(), epochs=DEMO_MAX_EPOCHS
    )
    return dataclasses.replace(base, name=DEMO_NAME, model=model, train=train).validate()


def demo_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "demo" / f"{DEMO_NAME}-{DEMO_VERSION}"


def build_demo_model(
    workdir: Path,
    config: Config,
    steps: int,
    device: str | None = None,
    device_id: int = 0,
    progress: bool = True,
) -> Path:
    """Train ``config`` for ``steps`` steps on the demo images and export it (flip fused) to
    ``workdir/model``, labelled demo; returns that directory. MindIR only: ONNX Runtime buckets
    would add 7-12 s (about a quarter) to ``make serve``'s first answer for no visible gain on
    this tiny network (measured in docs/fast-paths.md)."""
    from simplepose.export.exporter import export_model
    from simplepose.training.run_dir import LAST_CKPT
    from simplepose.training.trainer import TrainOptions, train

    options = TrainOptions(
        data_root=DEMO_DATA,
        run_dir=Path(workdir) / "run",
        train_split=DEMO_SPLIT,
        save_every=DEMO_MAX_EPOCHS,
        device=device,
        device_id=device_id,
        max_steps=steps,
        progress=progress,
    )
    summary = train(config, options)
    log.info("demo model trained: %d steps, loss %.2e", summary.steps, summary.last_loss)
    model_dir = Path(workdir) / "model"
    info = export_model(options.run_dir / LAST_CKPT, model_dir, flip=True)
    extra = {**info.extra, "demo_steps": summary.steps, "demo_data": "serving/demo_data"}
    dataclasses.replace(info, demo=True, extra=extra).save(model_dir)
    if not ModelInfo.load(model_dir).demo:
        raise RuntimeError("the exported demo model lost its demo label")
    return model_dir


def ensure_demo_model(
    cache_dir: Path,
    steps: int,
    device: str | None = None,
    device_id: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """The cached demo model directory (MindIR + model.json), trained and exported first if
    missing. ``steps`` bounds the training."""
    target = demo_dir(cache_dir)
    if (target / MODEL_JSON).is_file():
        return target
    say = progress or (lambda text: log.info("%s", text))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        say(f"building the demo model: {steps} training steps on {DEMO_DATA} (once; cached)")
        started = time.perf_counter()
        built = build_demo_model(Path(tmp), demo_config(), steps, device, device_id, False)
        if target.exists():
            shutil.rmtree(target)
        built.replace(target)
        say(f"demo model built in {time.perf_counter() - started:.0f} s: {target}")
    return target
