"""The demo model: served only when no real model can be had, and labelled ``demo`` everywhere.

It is a small ResNet-18 (128x96 input) trained from scratch, for a bounded few minutes, on the
handful of COCO images shipped in ``serving/demo_data`` (see ATTRIBUTION.md there), then
exported with the export stage's ``export_model``. It is built on the first run that needs it and
cached under ``<cache_dir>/demo/``; its keypoints are rough. Samples, augmentation and targets
come from the training stage (``training.coco``, ``training.dataset``), the network and loss
from the core: this module is only a time-bounded loop around them.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from simplepose.config import Config, get_preset
from simplepose.model_info import MODEL_JSON

log = logging.getLogger(__name__)

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
DEMO_SPLIT = "train2017"
DEMO_PRESET = "res18_128x96"
DEMO_VERSION = "v1"  # bump when the recipe changes, so stale cached demos are rebuilt
DEMO_BATCH = 16
DEMO_LR = 1e-3
DEMO_SEED = 0
PROGRESS_EVERY_S = 10.0


def demo_config() -> Config:
    base = get_preset(DEMO_PRESET)
    return replace(
        base,
        name="demo_" + DEMO_PRESET,
        train=replace(base.train, batch_size=DEMO_BATCH, lr=DEMO_LR, seed=DEMO_SEED),
    ).validate()


def demo_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "demo" / f"{DEMO_PRESET}-{DEMO_VERSION}"


def train_demo_checkpoint(
    path: Path, seconds: float, progress: Callable[[str], None] | None = None
) -> Path:
    """Train the demo network for about ``seconds`` and save it with ``demo: true`` metadata."""
    import mindspore as ms
    from mindspore import nn

    from simplepose.network.checkpoint import save_pose_checkpoint
    from simplepose.network.pose_net import PoseNetWithLoss, PoseResNet
    from training.coco import person_samples
    from training.dataset import PoseSource

    say = progress or (lambda text: log.info("%s", text))
    config = demo_config()
    samples = person_samples(DEMO_DATA, DEMO_SPLIT, config)
    ms.set_seed(DEMO_SEED)
    net = PoseResNet(config.model)
    step = nn.TrainOneStepCell(
        PoseNetWithLoss(net), nn.Adam(net.trainable_params(), learning_rate=config.train.lr)
    )
    step.set_train(True)
    start = last = time.monotonic()
    steps = epoch = 0
    loss = float("nan")
    say(f"building the demo model: {len(samples)} persons, about {seconds:.0f} s")
    while time.monotonic() - start < seconds:
        source = PoseSource(samples, config, train=True, epoch=epoch)
        order = np.random.default_rng([DEMO_SEED, epoch]).permutation(len(source))
        for first in range(0, len(order), DEMO_BATCH):
            items = [source[int(i)] for i in order[first : first + DEMO_BATCH]]
            images, targets, weights = (np.stack([it[k] for it in items]) for k in range(3))
            loss = float(step(ms.Tensor(images), ms.Tensor(targets), ms.Tensor(weights)).asnumpy())
            steps += 1
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S:
                last = now
                say(f"demo model: {now - start:.0f}/{seconds:.0f} s, step {steps}, loss {loss:.2e}")
            if now - start >= seconds:
                break
        epoch += 1
    net.set_train(False)
    meta = {"demo": True, "steps": steps, "epochs": epoch, "final_loss": loss}
    save_pose_checkpoint(net, path, config, meta)
    say(f"demo model trained: {steps} steps in {time.monotonic() - start:.0f} s, loss {loss:.2e}")
    return path


def ensure_demo_model(
    cache_dir: Path, seconds: float, progress: Callable[[str], None] | None = None
) -> Path:
    """The cached demo model directory (MindIR + model.json), built first if missing."""
    from export.mindir import export_model

    target = demo_dir(cache_dir)
    if (target / MODEL_JSON).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        ckpt = train_demo_checkpoint(Path(tmp) / "demo.ckpt", seconds, progress)
        info = export_model(ckpt, Path(tmp) / "model", flip=True)
        if not info.demo:
            raise RuntimeError("the exported demo model lost its demo label")
        if target.exists():
            shutil.rmtree(target)
        Path(tmp, "model").replace(target)
    return target
