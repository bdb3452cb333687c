"""Saving a run directory's checkpoints and restoring a run from them (``--resume``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simplepose.config.presets import Config
from simplepose.training.run_dir import LAST_CKPT, STATE_CKPT, STATE_KEY, RunState
from simplepose.training.steps import optimizer_state


def restore(run_dir: Path, net: Any, optimizer: Any) -> RunState:
    """Load ``last.ckpt`` into ``net`` and ``last_state.ckpt`` into ``optimizer``; the position
    they were saved at. Both files must be from the same moment."""
    from simplepose.network.checkpoint import (
        CheckpointError,
        copy_parameters,
        load_into,
        read_checkpoint,
    )

    params, meta = read_checkpoint(run_dir / LAST_CKPT)
    load_into(net, params, source=str(run_dir / LAST_CKPT))
    state_params, _ = read_checkpoint(run_dir / STATE_CKPT)
    raw = state_params.pop(STATE_KEY, None)
    if not isinstance(raw, str):
        raise CheckpointError(f"{run_dir / STATE_CKPT} has no training state record")
    state = RunState.from_json(raw)
    if meta.get("global_step") != state.global_step:
        raise CheckpointError(
            f"{LAST_CKPT} (step {meta.get('global_step')}) and {STATE_CKPT} (step "
            f"{state.global_step}) in {run_dir} are from different moments"
        )
    own = {p.name: p for p in optimizer.get_parameters()}
    missing = [d["name"] for d in optimizer_state(optimizer, net)]
    missing = [n for n in missing if n not in state_params]
    if missing:
        raise CheckpointError(f"{STATE_CKPT} lacks optimiser state {missing[:5]}")
    copy_parameters(own, {k: v for k, v in state_params.items() if k in own})
    restored = int(optimizer.global_step.asnumpy().reshape(-1)[0])
    if restored != state.global_step:
        raise CheckpointError(f"optimiser step {restored} != state {state.global_step}")
    return state


def save_last(run_dir: Path, net: Any, config: Config, state: RunState, loss: float) -> Path:
    """``last.ckpt``: the network, with the config and the position in its metadata."""
    from simplepose.network.checkpoint import save_pose_checkpoint

    meta = {"epoch": state.epoch, "global_step": state.global_step, "loss": loss}
    return save_pose_checkpoint(net, run_dir / LAST_CKPT, config, meta)


def save_state(run_dir: Path, net: Any, optimizer: Any, state: RunState) -> None:
    """``last_state.ckpt``: optimiser state and position, for ``--resume`` (atomically)."""
    import mindspore as ms

    tmp = run_dir / "last_state.partial.ckpt"
    ms.save_checkpoint(
        optimizer_state(optimizer, net), str(tmp), append_dict={STATE_KEY: state.to_json()}
    )
    tmp.replace(run_dir / STATE_CKPT)
