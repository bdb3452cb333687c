"""The training loop: Adam with a per-step multi-step LR, JointsMSE, checkpoints, resume, stop
on SIGINT/SIGTERM, optional validation AP, data parallel under ``msrun``."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from simplepose.training.coco import SkipCounter, person_samples
from simplepose.training.dataset import (
    PoseSource,
    Shard,
    build_dataset,
    epoch_indices,
    steps_per_epoch,
)
from simplepose.training.run_dir import (
    BEST_CKPT,
    CONFIG_FILE,
    LAST_CKPT,
    STATE_CKPT,
    STATE_KEY,
    MetricsWriter,
    RunState,
    metrics_name,
)
from simplepose.training.schedule import multistep_lr

from simplepose.config import Config

log = logging.getLogger(__name__)
LAUNCHER_ENV = ("MS_ROLE", "RANK_SIZE")  # set by msrun for every worker
HEAD_PREFIXES = ("deconv_layers.", "final_layer.")


@dataclass(frozen=True)
class TrainOptions:
    """Everything about a run that is not the model/recipe config."""

    data_root: Path
    run_dir: Path
    train_split: str = "train2017"
    val_split: str | None = None
    val_boxes: str = "gt"
    val_every: int = 1
    save_every: int = 1  # epochs between last.ckpt writes (the final epoch is always saved)
    device: str | None = None
    device_id: int = 0
    resume: bool = False
    pretrained: Path | None = None
    max_steps: int | None = None  # stop with a checkpoint after this many steps of this process
    progress: bool = True
    graph_mode: bool = True


@dataclass
class TrainSummary:
    run_dir: Path
    state: RunState
    last_loss: float
    stopped: bool
    signal: str | None  # "SIGINT"/"SIGTERM" when a signal stopped the run
    seconds: float
    steps: int  # optimiser steps run by this process
    rank: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


class StopRequest:
    """SIGINT/SIGTERM set a flag; the loop checkpoints after the current step and returns.

    MindSpore's runtime installs a C++ SIGINT handler of its own; here it was seen to pass
    Ctrl-C on as SIGTERM. Both end up in this handler.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.requested is not None:  # a second signal: stop now, without a checkpoint
            self.restore()
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        log.warning("%s: stopping after this step (again to abort without a checkpoint)",
                    self.requested)  # fmt: skip

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def launched_by_msrun() -> bool:
    return any(os.environ.get(name) for name in LAUNCHER_ENV)


def init_distributed() -> Shard:
    """Join the msrun job (data parallel, gradients averaged); a single process otherwise."""
    if not launched_by_msrun():
        return Shard()
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    init()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    return Shard(get_rank(), get_group_size())


def trainable_digest(net: Any) -> str:
    """SHA-256 of all trainable parameters (name order): equal on every data-parallel rank.
    BatchNorm running statistics are per rank and not included."""
    digest = hashlib.sha256()
    for p in sorted(net.trainable_params(), key=lambda p: p.name):
        digest.update(p.name.encode())
        digest.update(np.ascontiguousarray(p.asnumpy()).tobytes())
    return digest.hexdigest()


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


def _optimizer_state(optimizer: Any, net: Any) -> list[dict[str, Any]]:
    own = {p.name for p in net.get_parameters()}
    return [{"name": p.name, "data": p} for p in optimizer.get_parameters() if p.name not in own]


class Trainer:
    """One training run (see ``train``)."""

    def __init__(self, config: Config, options: TrainOptions):
        import mindspore as ms
        from mindspore import nn

        from simplepose.network.device import select_device
        from simplepose.network.pose_net import PoseResNet

        self.config = config
        self.options = options
        self.run_dir = Path(options.run_dir)
        if not options.resume and (self.run_dir / LAST_CKPT).exists():
            raise ValueError(
                f"{self.run_dir} already holds a run; continue it with --resume {self.run_dir} "
                "or choose another --output"
            )
        device_id = int(os.environ.get("DEVICE_ID", options.device_id))
        self.device = select_device(options.device, device_id, graph_mode=options.graph_mode)
        check_amp(config, self.device)
        self.shard = init_distributed()
        self.is_main = self.shard.rank == 0
        ms.set_seed(config.train.seed)
        self.skipped = SkipCounter()
        self.samples = person_samples(options.data_root, options.train_split, config, self.skipped)
        if self.skipped.total:
            log.warning("training data: %s", self.skipped.summary())
        self.steps_per_epoch = steps_per_epoch(
            len(self.samples), config.train.batch_size, self.shard
        )
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"{len(self.samples)} training persons on {self.shard.size} device(s) do not "
                f"fill one batch of {config.train.batch_size}: lower train.batch_size"
            )
        self.lr_table = multistep_lr(config.train, self.steps_per_epoch)
        self.net = PoseResNet(config.model)
        self.optimizer = nn.Adam(
            self.net.trainable_params(),
            learning_rate=ms.Tensor(self.lr_table),
            weight_decay=config.train.weight_decay,
        )
        self.state = RunState()
        if options.resume:
            self._restore()
        elif options.pretrained is not None:
            load_backbone(self.net, Path(options.pretrained))
        self.step_cell = make_train_step(self.net, self.optimizer, config, self.device)
        self.metrics = MetricsWriter(self.run_dir / metrics_name(self.shard.rank))
        if self.shard.size > 1:
            from mindspore import ops

            self._all_reduce = ops.AllReduce()

    def _restore(self) -> None:
        from simplepose.network.checkpoint import CheckpointError, load_into, read_checkpoint

        params, meta = read_checkpoint(self.run_dir / LAST_CKPT)
        load_into(self.net, params, source=str(self.run_dir / LAST_CKPT))
        state_params, _ = read_checkpoint(self.run_dir / STATE_CKPT)
        raw = state_params.pop(STATE_KEY, None)
        if not isinstance(raw, str):
            raise CheckpointError(f"{self.run_dir / STATE_CKPT} has no training state record")
        self.state = RunState.from_json(raw)
        if meta.get("global_step") != self.state.global_step:
            raise CheckpointError(
                f"{LAST_CKPT} (step {meta.get('global_step')}) and {STATE_CKPT} (step "
                f"{self.state.global_step}) in {self.run_dir} are from different moments"
            )
        own = {p.name: p for p in self.optimizer.get_parameters()}
        missing = [d["name"] for d in _optimizer_state(self.optimizer, self.net)]
        missing = [n for n in missing if n not in state_params]
        if missing:
            raise CheckpointError(f"{STATE_CKPT} lacks optimiser state {missing[:5]}")
        import mindspore as ms

        ms.load_param_into_net(
            self.optimizer, {k: v for k, v in state_params.items() if k in own}, strict_load=True
        )
        restored = int(self.optimizer.global_step.asnumpy().reshape(-1)[0])
        if restored != self.state.global_step:
            raise CheckpointError(f"optimiser step {restored} != state {self.state.global_step}")
        log.info(
            "resuming %s at epoch %d, step %d of it (global step %d)",
            self.run_dir,
            self.state.epoch + 1,
            self.state.step_in_epoch,
            self.state.global_step,
        )

    def save(self, state: RunState, loss: float) -> Path:
        """Write ``last.ckpt`` (network) and ``last_state.ckpt`` (optimiser + position)."""
        from simplepose.network.checkpoint import save_pose_checkpoint

        self.state = state
        if not self.is_main:
            return self.run_dir / LAST_CKPT
        meta = {"epoch": state.epoch, "global_step": state.global_step, "loss": loss}
        path = save_pose_checkpoint(self.net, self.run_dir / LAST_CKPT, self.config, meta)
        self.save_state(state)
        return path

    def save_state(self, state: RunState) -> None:
        import mindspore as ms

        if not self.is_main:
            return
        tmp = self.run_dir / "last_state.partial.ckpt"
        ms.save_checkpoint(
            _optimizer_state(self.optimizer, self.net),
            str(tmp),
            append_dict={STATE_KEY: state.to_json()},
        )
        tmp.replace(self.run_dir / STATE_CKPT)

    def stop_reason(self, stop: StopRequest, steps_run: int) -> str | None:
        """Why to stop after this step, agreed by all ranks (a signal may reach one rank only,
        and a rank that stops alone would leave the others waiting in the gradient all-reduce)."""
        reason = stop.requested
        if self.shard.size > 1:
            import mindspore as ms

            flag = ms.Tensor([1.0 if reason else 0.0], ms.float32)  # CPU: float only
            if self._all_reduce(flag).asnumpy()[0] > 0 and not reason:
                reason = "stop requested on another rank"
        max_steps = self.options.max_steps
        if not reason and max_steps is not None and steps_run >= max_steps:
            reason = f"max_steps={max_steps}"
        return reason

    def validate(self, state: RunState) -> float | None:
        """Val AP of ``last.ckpt``; keeps ``best.ckpt`` up to date. Main rank only."""
        opts = self.options
        if not (self.is_main and opts.val_split and state.epoch % opts.val_every == 0):
            return None
        from simplepose.training.evaluate import evaluate

        from simplepose.network.checkpoint import save_pose_checkpoint

        # the checkpoint carries self.config: its test section sets every threshold
        result = evaluate(self.run_dir / LAST_CKPT, opts.data_root, opts.val_split, opts.val_boxes)
        ap = result.stats["AP"]
        log.info("epoch %d val AP %.4f (%s)", state.epoch, ap, result.boxes)
        if state.best_ap is None or ap > state.best_ap:
            self.state = RunState(state.epoch, state.step_in_epoch, state.global_step, ap)
            meta = {"epoch": state.epoch, "global_step": state.global_step, "val_ap": ap}
            save_pose_checkpoint(self.net, self.run_dir / BEST_CKPT, self.config, meta)
        return ap

    def run(self) -> TrainSummary:
        cfg, opts = self.config, self.options
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            cfg.save_yaml(self.run_dir / CONFIG_FILE)
        bs = cfg.train.batch_size
        state = self.state
        stop = StopRequest()
        started = time.perf_counter()
        steps_run, loss_value = 0, float("nan")
        self.metrics.write(
            "start",
            rank=self.shard.rank,
            world=self.shard.size,
            pid=os.getpid(),
            samples=len(self.samples),
            steps_per_epoch=self.steps_per_epoch,
            resume=opts.resume,
            state=state.to_json(),
        )
        try:
            for epoch in range(state.epoch, cfg.train.epochs):
                skip = state.step_in_epoch if epoch == state.epoch else 0
                source = PoseSource(self.samples, cfg, True, epoch, self.skipped)
                indices = epoch_indices(len(self.samples), epoch, cfg.train.seed, self.shard, bs)
                dataset = build_dataset(source, indices[skip * bs :], bs, cfg.data.num_workers)
                bar = _progress(opts.progress and self.is_main, epoch, cfg, self.steps_per_epoch)
                bar.update(skip)
                epoch_loss, epoch_steps, t_epoch = 0.0, 0, time.perf_counter()
                step_in_epoch, reason = skip, None
                for image, target, weight, _ in dataset.create_tuple_iterator(num_epochs=1):
                    t_step = time.perf_counter()
                    lr = float(
                        self.lr_table[min(state.global_step + steps_run, len(self.lr_table) - 1)]
                    )
                    out = self.step_cell(image, target, weight)
                    loss_value = float((out[0] if isinstance(out, tuple) else out).asnumpy())
                    steps_run += 1
                    step_in_epoch += 1
                    epoch_loss += loss_value
                    epoch_steps += 1
                    gs = state.global_step + steps_run
                    img_s = bs * self.shard.size / max(time.perf_counter() - t_step, 1e-9)
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_value:.6f}", img_s=f"{img_s:.1f}")
                    if gs % cfg.train.log_every == 0 or gs == 1:
                        self.metrics.write(
                            "step",
                            epoch=epoch + 1,
                            step=step_in_epoch,
                            global_step=gs,
                            loss=loss_value,
                            lr=lr,
                            img_s=round(img_s, 2),
                        )
                    reason = self.stop_reason(stop, steps_run)
                    if reason and step_in_epoch < self.steps_per_epoch:
                        bar.close()
                        mid = RunState(epoch, step_in_epoch, gs, self.state.best_ap)
                        path = self.save(mid, loss_value)
                        self.metrics.write("stop", reason=reason, state=mid.to_json())
                        log.warning("stopped (%s) at epoch %d step %d; wrote %s", reason,
                                    epoch + 1, step_in_epoch, path)  # fmt: skip
                        return self._summary(started, steps_run, loss_value, stop.requested)
                bar.close()
                done = RunState(epoch + 1, 0, state.global_step + steps_run, self.state.best_ap)
                finishing = reason is not None
                ap = None
                if done.epoch % opts.save_every == 0 or done.epoch == cfg.train.epochs or finishing:
                    self.save(done, loss_value)
                    ap = self.validate(done)
                    if self.state.best_ap != done.best_ap:
                        self.save_state(self.state)  # record the new best for a later resume
                else:
                    self.state = done
                seconds = time.perf_counter() - t_epoch
                self.metrics.write(
                    "epoch",
                    epoch=epoch + 1,
                    global_step=done.global_step,
                    loss=epoch_loss / max(epoch_steps, 1),
                    img_s=round(epoch_steps * bs * self.shard.size / seconds, 2),
                    seconds=round(seconds, 2),
                    samples=epoch_steps * bs,
                    val_ap=ap,
                    params_sha256=trainable_digest(self.net),
                    skipped=dict(self.skipped.counts),
                )
                if finishing:
                    return self._summary(started, steps_run, loss_value, stop.requested, True)
            return self._summary(started, steps_run, loss_value, None, False)
        finally:
            stop.restore()
            if self.skipped.total:
                log.warning("skipped during training: %s", self.skipped.summary())

    def _summary(
        self, started: float, steps: int, loss: float, sig: str | None, stopped: bool = True
    ) -> TrainSummary:
        return TrainSummary(
            run_dir=self.run_dir,
            state=self.state,
            last_loss=loss,
            stopped=stopped,
            signal=sig,
            seconds=time.perf_counter() - started,
            steps=steps,
            rank=self.shard.rank,
            skipped=dict(self.skipped.counts),
        )


def _progress(enabled: bool, epoch: int, config: Config, total: int) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=f"epoch {epoch + 1}/{config.train.epochs}",
        unit="step",
        disable=not enabled,
        dynamic_ncols=True,
    )


def train(config: Config, options: TrainOptions) -> TrainSummary:
    """Train (or resume) one run; returns where it stands. See ``TrainOptions``."""
    return Trainer(config, options).run()
