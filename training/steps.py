"""The network's training step: backbone initialisation, mixed precision and the optimiser
state that a resume must restore."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from simplepose.config.presets import Config

log = logging.getLogger(__name__)
HEAD_PREFIXES = ("deconv_layers.", "final_layer.")


def load_backbone(net: Any, path: Path) -> None:
    """Initialise the backbone from a MindSpore checkpoint with this network's parameter names
    (e.g. ``simplepose convert`` output of a torchvision ResNet); other names are dropped."""
    from simplepose.network.checkpoint import CheckpointError, load_into, read_checkpoint

    params, _ = read_checkpoint(path)
    own = {p.name for p in net.get_parameters()}
    usable = {k: v for k, v in params.items() if k in own and not k.startswith(HEAD_PREFIXES)}
    if not usable:
        raise CheckpointError(f"{path} has no backbone parameters (conv1.*, bn1.*, layer1.* ...)")
    dropped = sorted(set(params) - set(usable))
    if dropped:
        log.info("backbone init: %d parameters of %s not used: %s", len(dropped), path, dropped[:5])
    load_into(net, usable, allow_missing=True, source=str(path))


def check_amp(config: Config, device: str) -> None:
    """Mixed precision (O1-O3) only on Ascend; CPU runs O0 (``TrainConfig.validate`` checks
    the level is known)."""
    level = config.train.amp_level
    if level != "O0" and device != "Ascend":
        raise ValueError(
            f"train.amp_level={level} is for Ascend; use train.amp_level=O0 on {device}"
        )


def make_train_step(net: Any, optimizer: Any, config: Config, device: str) -> Any:
    """``TrainOneStepCell`` (O0) or, on Ascend, mixed precision with a fixed loss scale."""
    import mindspore as ms
    from mindspore import nn

    from simplepose.network.pose_net import PoseNetWithLoss

    check_amp(config, device)
    level = config.train.amp_level
    if level == "O0":
        step = nn.TrainOneStepCell(PoseNetWithLoss(net), optimizer)
    else:
        with_loss = ms.amp.auto_mixed_precision(PoseNetWithLoss(net), level)
        scale = ms.Tensor(config.train.loss_scale, ms.float32)
        step = nn.TrainOneStepWithLossScaleCell(with_loss, optimizer, scale_sense=scale)
    step.set_train()
    return step


def optimizer_state(optimizer: Any, net: Any) -> list[dict[str, Any]]:
    """The optimiser's own parameters (moments, step), without the network's."""
    own = {p.name for p in net.get_parameters()}
    return [{"name": p.name, "data": p} for p in optimizer.get_parameters() if p.name not in own]
