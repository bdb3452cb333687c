"""Learning-rate schedule: multi-step decay evaluated per optimiser step. NumPy only."""

from __future__ import annotations

import numpy as np

from simplepose.config.presets import TrainConfig


def multistep_lr(train: TrainConfig, steps_per_epoch: int) -> np.ndarray:
    """``(epochs * steps_per_epoch + 1,)`` float32: ``lr * factor ** (milestones passed)``.

    One extra entry at the end holds the final rate, so the optimiser never indexes past the
    table on the step after the last one.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    epochs = np.arange(train.epochs * steps_per_epoch + 1) // steps_per_epoch
    passed = (epochs[:, None] >= np.asarray(train.lr_steps or [np.inf])[None, :]).sum(axis=1)
    return (train.lr * train.lr_factor**passed).astype(np.float32)
