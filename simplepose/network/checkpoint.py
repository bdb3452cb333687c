"""Pose checkpoints: MindSpore ``.ckpt`` files of the network plus a JSON metadata record.

The metadata (key ``simplepose_meta``) carries the resolved config, so a checkpoint alone is
enough to rebuild the network, and anything else the later stages must not guess (channel order,
epoch, source of converted weights). Loading fails loudly on missing or unexpected parameters.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import mindspore as ms
from mindspore import nn

from simplepose.config.loading import config_from_dict
from simplepose.config.presets import DATA_FACT_FIELDS, Config, reconcile_with_checkpoint
from simplepose.network.pose_net import PoseResNet

META_KEY = "simplepose_meta"
log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint that does not fit the network it is loaded into."""


def save_pose_checkpoint(
    net: nn.Cell, path: str | Path, config: Config, meta: dict[str, Any] | None = None
) -> Path:
    """Write ``net``'s parameters and ``{"config": ..., **meta}`` to ``path`` (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"config": config.to_dict(), **(meta or {})}
    tmp = path.with_name(path.stem + ".partial.ckpt")  # MindSpore insists on a .ckpt suffix
    ms.save_checkpoint(net, str(tmp), append_dict={META_KEY: json.dumps(record)})
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path) -> tuple[dict[str, ms.Parameter], dict[str, Any]]:
    """Parameters and metadata of a checkpoint. Raises ``FileNotFoundError`` if missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        params = ms.load_checkpoint(str(path))
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable MindSpore checkpoint: {exc}") from exc
    raw = params.pop(META_KEY, None)
    meta = json.loads(raw) if isinstance(raw, str) else {}
    return params, meta


def load_into(
    net: nn.Cell, params: dict[str, ms.Parameter], allow_missing: bool = False, source: str = ""
) -> None:
    """Copy ``params`` into ``net``, checking names and shapes first.

    Missing or unexpected names and shape mismatches raise ``CheckpointError`` listing them;
    with ``allow_missing`` a missing name is only logged (e.g. a backbone-only init).
    """
    own = {p.name: p for p in net.get_parameters()}
    missing = sorted(set(own) - set(params))
    unexpected = sorted(set(params) - set(own))
    wrong = [
        f"{k}: checkpoint {tuple(params[k].shape)} vs network {tuple(own[k].shape)}"
        for k in own
        if k in params and tuple(params[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {', '.join(unexpected[:8])}")
    if wrong:
        problems.append(f"{len(wrong)} with wrong shape: {'; '.join(wrong[:8])}")
    if missing and not allow_missing:
        problems.append(f"{len(missing)} missing: {', '.join(missing[:8])}")
    if problems:
        raise CheckpointError(
            f"checkpoint {source} does not fit the network: " + " | ".join(problems)
        )
    if missing:
        log.warning(
            "%d parameters not in %s keep their init: %s", len(missing), source, missing[:8]
        )
    copy_parameters(own, {k: v for k, v in params.items() if k in own})


def copy_parameters(targets: dict[str, ms.Parameter], values: dict[str, ms.Parameter]) -> None:
    """Copy ``values`` into the parameters of the same name in ``targets`` (a subset is fine).

    ``ms.load_param_into_net`` warns about every parameter of the cell that is not in the
    dict, also where leaving them out is the point (the head of a backbone-only init; the network
    weights that an optimizer cell holds next to its state), so the caller checks names and
    shapes and this copies. Values of another dtype are converted to the target's.
    """
    for name, value in values.items():
        target = targets[name]
        if tuple(value.shape) != tuple(target.shape):
            raise CheckpointError(
                f"{name}: checkpoint shape {tuple(value.shape)} vs {tuple(target.shape)}"
            )
        data = value if value.dtype == target.dtype else ms.Tensor(value.asnumpy(), target.dtype)
        target.set_data(data)


def build_network(
    path: str | Path, config: Config | None = None
) -> tuple[PoseResNet, Config, dict[str, Any]]:
    """Rebuild the network a pose checkpoint was saved from and load its weights (eval mode).

    ``config`` is needed only for checkpoints without metadata; for others it may change what
    the weights do not fix (``config.reconcile_with_checkpoint``): naming the preset of the same
    architecture keeps the checkpoint's channel order and mean/std.
    """
    params, meta = read_checkpoint(path)
    if "config" in meta:
        saved = config_from_dict(meta["config"])
        if config is not None:
            try:
                config = reconcile_with_checkpoint(saved, config, Path(path).name)
            except ValueError as exc:
                raise CheckpointError(str(exc)) from exc
            for name in DATA_FACT_FIELDS:
                if getattr(config.model, name) != getattr(saved.model, name):
                    log.warning(
                        "model.%s %r overrides %r that %s was saved with", name,
                        getattr(config.model, name), getattr(saved.model, name), path,
                    )  # fmt: skip
        else:
            config = saved
    elif config is None:
        raise CheckpointError(
            f"{path} has no simplepose metadata; pass the preset it was trained with (--config)"
        )
    net = PoseResNet(config.model)
    load_into(net, params, source=str(path))
    net.set_train(False)
    return net, config, meta
