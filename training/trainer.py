"""The training loop: Adam with a per-step multi-step LR, JointsMSE, checkpoints, resume, stop
on SIGINT/SIGTERM, optional validation AP, data parallel under ``msrun``."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simplepose.config.presets import Config
from simplepose.training.board import Board
from simplepose.training.coco import DataSource, SkipCounter, person_samples
from simplepose.training.dataset import PoseSource, build_dataset, epoch_indices, steps_per_epoch
from simplepose.training.distributed import init_distributed, trainable_digest
from simplepose.training.init_from import load_init, read_source, resolve_source, run_config
from simplepose.training.resume import restore, save_last, save_state
from simplepose.training.run_dir import (
    BEST_CKPT,
    CONFIG_FILE,
    LAST_CKPT,
    MetricsWriter,
    RunState,
    metrics_name,
)
from simplepose.training.schedule import multistep_lr
from simplepose.training.steps import check_amp, load_backbone, make_train_step
from simplepose.training.stop import StopRequest, agreed_reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    """Everything about a run that is not the model/recipe config."""

    data_root: DataSource  # a COCO root or a dataset file
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
    init_from: Path | None = None  # pose checkpoint (file or directory) to fine-tune from
    max_steps: int | None = None  # stop with a checkpoint after this many steps of this process
    progress: bool = True
    graph_mode: bool = True
    report: bool = True  # results.png and the prediction grid when the run ends
    stop_at_ap: float | None = None  # stop once a validation reaches this AP (one process)


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


class Trainer:
    """One training run (see ``train``)."""

    def __init__(self, config: Config, options: TrainOptions):
        import mindspore as ms
        from mindspore import nn

        from simplepose.network.pose_net import PoseResNet
        from simplepose.runtime.device import select_device

        self.init_source = None
        if options.init_from is not None and not options.resume:
            self.init_source = read_source(resolve_source(str(options.init_from)))
            config = run_config(config, self.init_source)
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
        if options.stop_at_ap is not None and self.shard.size > 1:
            raise ValueError("stop_at_ap stops one process: validation runs on rank 0 only")
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
        elif self.init_source is not None:
            load_init(self.net, config, self.init_source)
        elif options.pretrained is not None:
            load_backbone(self.net, Path(options.pretrained))
        self.step_cell = make_train_step(self.net, self.optimizer, config, self.device)
        board = Board(self.run_dir) if self.is_main else None
        self.metrics = MetricsWriter(self.run_dir / metrics_name(self.shard.rank), board)
        if self.shard.size > 1:
            from mindspore import ops

            self._all_reduce = ops.AllReduce()

    def _restore(self) -> None:
        self.state = restore(self.run_dir, self.net, self.optimizer)
        log.info(
            "resuming %s at epoch %d, step %d of it (global step %d)",
            self.run_dir, self.state.epoch + 1, self.state.step_in_epoch, self.state.global_step,
        )  # fmt: skip

    def save(self, state: RunState, loss: float) -> Path:
        """Write ``last.ckpt`` (network) and ``last_state.ckpt`` (optimiser + position)."""
        self.state = state
        if not self.is_main:
            return self.run_dir / LAST_CKPT
        path = save_last(self.run_dir, self.net, self.config, state, loss)
        self.save_state(state)
        return path

    def save_state(self, state: RunState) -> None:
        if self.is_main:
            save_state(self.run_dir, self.net, self.optimizer, state)

    def stop_reason(self, stop: StopRequest, steps_run: int) -> str | None:
        all_reduce = getattr(self, "_all_reduce", None)
        return agreed_reason(stop, self.shard.size, all_reduce, steps_run, self.options.max_steps)

    def validate(self, state: RunState) -> float | None:
        """Val AP of ``last.ckpt``; keeps ``best.ckpt`` up to date. Main rank only."""
        opts = self.options
        if not (self.is_main and opts.val_split and state.epoch % opts.val_every == 0):
            return None
        from simplepose.network.checkpoint import save_pose_checkpoint
        from simplepose.training.evaluate import evaluate

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
        cfg = self.config
        self._begin()
        start, stop = self.state, StopRequest()
        self._started, self._steps_run, self._loss = time.perf_counter(), 0, float("nan")
        try:
            for epoch in range(start.epoch, cfg.train.epochs):
                skip = start.step_in_epoch if epoch == start.epoch else 0
                result = self._train_epoch(epoch, skip, start.global_step, stop)
                if result.stopped_inside:
                    return self._summary(stop.requested)
                self._end_epoch(epoch, start.global_step, result)
                if result.reason is not None:
                    return self._summary(stop.requested)
            return self._summary(None, stopped=False)
        finally:
            stop.restore()
            self.metrics.close()
            if self.is_main and self.options.report:
                self._report()
            if self.skipped.total:
                log.warning("skipped during training: %s", self.skipped.summary())

    def _report(self) -> None:
        """results.png and the prediction grid; a failure here costs the pictures, not the run."""
        from simplepose.training.report import write_report

        opts = self.options
        try:
            write_report(self.run_dir, opts.data_root, opts.val_split or opts.train_split)
        except ImportError as exc:
            log.warning(
                "no results.png / predictions.jpg: %s (pip install 'simplepose[train]')", exc
            )
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("run report not written: %s", exc)

    def _begin(self) -> None:
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.config.save_yaml(self.run_dir / CONFIG_FILE)
        self.metrics.write(
            "start",
            rank=self.shard.rank,
            world=self.shard.size,
            pid=os.getpid(),
            samples=len(self.samples),
            steps_per_epoch=self.steps_per_epoch,
            resume=self.options.resume,
            state=self.state.to_json(),
        )

    def _train_epoch(self, epoch: int, skip: int, base_step: int, stop: StopRequest) -> _Epoch:
        """The steps of one epoch (from step ``skip``); a stop inside it writes a checkpoint."""
        cfg, bs = self.config, self.config.train.batch_size
        source = PoseSource(self.samples, cfg, True, epoch, self.skipped)
        indices = epoch_indices(len(self.samples), epoch, cfg.train.seed, self.shard, bs)
        dataset = build_dataset(source, indices[skip * bs :], bs, cfg.data.num_workers)
        bar = _progress(self.options.progress and self.is_main, epoch, cfg, self.steps_per_epoch)
        bar.update(skip)
        result = _Epoch(started=time.perf_counter())
        step_in_epoch = skip
        for image, target, weight, _ in dataset.create_tuple_iterator(num_epochs=1):
            t_step = time.perf_counter()
            lr = float(self.lr_table[min(base_step + self._steps_run, len(self.lr_table) - 1)])
            out = self.step_cell(image, target, weight)
            self._loss = float((out[0] if isinstance(out, tuple) else out).asnumpy())
            self._steps_run += 1
            step_in_epoch += 1
            result.loss_sum += self._loss
            result.steps += 1
            gs = base_step + self._steps_run
            img_s = bs * self.shard.size / max(time.perf_counter() - t_step, 1e-9)
            bar.update(1)
            bar.set_postfix(loss=f"{self._loss:.6f}", img_s=f"{img_s:.1f}")
            if gs % cfg.train.log_every == 0 or gs == 1:
                self.metrics.write(
                    "step", epoch=epoch + 1, step=step_in_epoch, global_step=gs,
                    loss=self._loss, lr=lr, img_s=round(img_s, 2),
                )  # fmt: skip
            result.reason = self.stop_reason(stop, self._steps_run)
            if result.reason and step_in_epoch < self.steps_per_epoch:
                bar.close()
                mid = RunState(epoch, step_in_epoch, gs, self.state.best_ap)
                path = self.save(mid, self._loss)
                self.metrics.write("stop", reason=result.reason, state=mid.to_json())
                log.warning("stopped (%s) at epoch %d step %d; wrote %s", result.reason,
                            epoch + 1, step_in_epoch, path)  # fmt: skip
                result.stopped_inside = True
                return result
        bar.close()
        return result

    def _end_epoch(self, epoch: int, base_step: int, result: _Epoch) -> None:
        """Checkpoint (every ``save_every`` epochs, the last one, or when stopping), validate,
        and write the epoch's metrics record (and the ``stop`` record when stopping)."""
        cfg, bs = self.config, self.config.train.batch_size
        done = RunState(epoch + 1, 0, base_step + self._steps_run, self.state.best_ap)
        ap = None
        due = done.epoch % self.options.save_every == 0 or done.epoch == cfg.train.epochs
        if due or result.reason is not None:
            self.save(done, self._loss)
            ap = self.validate(done)
            if self.state.best_ap != done.best_ap:
                self.save_state(self.state)  # record the new best for a later resume
        else:
            self.state = done
        target = self.options.stop_at_ap
        if result.reason is None and ap is not None and target is not None and ap >= target:
            result.reason = f"val AP {ap:.4f} >= {target}"
        seconds = time.perf_counter() - result.started
        self.metrics.write(
            "epoch",
            epoch=epoch + 1,
            global_step=done.global_step,
            loss=result.loss_sum / max(result.steps, 1),
            img_s=round(result.steps * bs * self.shard.size / seconds, 2),
            seconds=round(seconds, 2),
            samples=result.steps * bs,
            val_ap=ap,
            params_sha256=trainable_digest(self.net),
            skipped=dict(self.skipped.counts),
        )
        if result.reason is not None:  # agreed on the epoch's last step: a stop all the same
            self.metrics.write("stop", reason=result.reason, state=done.to_json())

    def _summary(self, sig: str | None, stopped: bool = True) -> TrainSummary:
        return TrainSummary(
            run_dir=self.run_dir,
            state=self.state,
            last_loss=self._loss,
            stopped=stopped,
            signal=sig,
            seconds=time.perf_counter() - self._started,
            steps=self._steps_run,
            rank=self.shard.rank,
            skipped=dict(self.skipped.counts),
        )


@dataclass
class _Epoch:
    """How one epoch went: why it stops the run (if it does), and its loss/step counts."""

    started: float
    reason: str | None = None
    stopped_inside: bool = False  # stopped before its last step (checkpoint already written)
    loss_sum: float = 0.0
    steps: int = 0


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
