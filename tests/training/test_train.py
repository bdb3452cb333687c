"""The training loop: loss falls, stop on a signal writes a checkpoint, resume is exact."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from train_cli import train_cli_command

from simplepose.config.loading import load_config
from simplepose.network.checkpoint import build_network
from simplepose.training.run_dir import read_metrics
from simplepose.training.trainer import TrainOptions, train

pytestmark = pytest.mark.slow


def _steps(run_dir: Path) -> dict[int, dict]:
    return {
        m["global_step"]: m for m in read_metrics(run_dir / "metrics.jsonl") if m["kind"] == "step"
    }


def test_loss_falls_on_real_persons(small_root: Path, tmp_path: Path, train_config) -> None:
    cfg = replace(
        train_config,
        train=replace(train_config.train, epochs=10, lr_steps=(), lr=2e-3),
    )
    summary = train(cfg, TrainOptions(small_root, tmp_path / "run", progress=False, save_every=4))
    assert not summary.stopped
    assert summary.state.epoch == 10 and summary.state.global_step == 20
    losses = [m["loss"] for _, m in sorted(_steps(tmp_path / "run").items())]
    assert len(losses) == 20
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    assert last < 0.8 * first, (first, last)
    # the checkpoint is a plain network checkpoint with its epoch in the metadata
    net, config, meta = build_network(tmp_path / "run" / "last.ckpt")
    assert meta["epoch"] == 10 and meta["global_step"] == 20
    assert config == cfg
    assert (tmp_path / "run" / "config.yaml").is_file()


def _send_sigterm_after_first_step(run_dir: Path) -> threading.Thread:
    def watch() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            if _steps(run_dir).get(1):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_sigterm_then_resume_continues_schedule(
    small_root: Path, tmp_path: Path, train_config
) -> None:
    """An interrupted and resumed run follows the uninterrupted run's LR schedule, epochs,
    data order and (CPU being deterministic here) its losses."""
    straight = tmp_path / "straight"
    train(train_config, TrainOptions(small_root, straight, progress=False))
    reference = _steps(straight)
    assert sorted(reference) == [1, 2, 3, 4, 5, 6]  # 8 persons / batch 4 x 3 epochs
    lrs = [reference[s]["lr"] for s in range(1, 7)]
    np.testing.assert_allclose(lrs, [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5], rtol=1e-6)

    run = tmp_path / "interrupted"
    watcher = _send_sigterm_after_first_step(run)
    first = train(train_config, TrainOptions(small_root, run, progress=False))
    watcher.join()
    assert first.stopped
    stopped_at = first.state.global_step
    assert 1 <= stopped_at < 6
    assert (run / "last.ckpt").is_file() and (run / "last_state.ckpt").is_file()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored

    with pytest.raises(ValueError, match="--resume"):
        train(train_config, TrainOptions(small_root, run, progress=False))
    resumed = train(train_config, TrainOptions(small_root, run, resume=True, progress=False))
    assert not resumed.stopped
    assert resumed.state.epoch == 3 and resumed.state.global_step == 6
    assert resumed.steps == 6 - stopped_at
    steps = _steps(run)
    assert sorted(steps) == [1, 2, 3, 4, 5, 6]
    for s in range(1, 7):
        assert steps[s]["lr"] == reference[s]["lr"], s
        assert steps[s]["epoch"] == reference[s]["epoch"], s
        assert steps[s]["loss"] == pytest.approx(reference[s]["loss"], rel=1e-4), s
    _, _, meta = build_network(run / "last.ckpt")
    assert meta["epoch"] == 3


def test_stop_on_the_last_step_of_an_epoch_is_recorded(
    small_root: Path, tmp_path: Path, train_config
) -> None:
    """A stop agreed on an epoch's last step (here --max-steps = one epoch of 2 steps) writes
    the same ``stop`` record as a stop inside an epoch: the msrun launcher reads it to tell a
    requested stop from a failed worker, and where a signal lands decides which case it is."""
    run = tmp_path / "run"
    summary = train(train_config, TrainOptions(small_root, run, progress=False, max_steps=2))
    assert summary.stopped and (summary.state.epoch, summary.state.global_step) == (1, 2)
    stops = [m for m in read_metrics(run / "metrics.jsonl") if m["kind"] == "stop"]
    assert len(stops) == 1 and stops[0]["reason"] == "max_steps=2", stops
    state = json.loads(stops[0]["state"])
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 0, 2)
    _, _, meta = build_network(run / "last.ckpt")
    assert meta["global_step"] == 2


def test_amp_is_refused_on_cpu(small_root: Path, tmp_path: Path, train_config) -> None:
    cfg = load_config("res18_128x96", ["train.amp_level=O2"])
    with pytest.raises(ValueError, match="amp_level=O2 is for Ascend"):
        train(cfg, TrainOptions(small_root, tmp_path / "amp", progress=False))


def test_pretrained_backbone_init(tiny_checkpoint: Path, tiny_config) -> None:
    import mindspore as ms

    from simplepose.network.pose_net import PoseResNet
    from simplepose.training.steps import load_backbone

    source, _, _ = build_network(tiny_checkpoint)
    ms.set_seed(123)
    net = PoseResNet(tiny_config.model)
    load_backbone(net, tiny_checkpoint)
    theirs = {p.name: p.asnumpy() for p in source.get_parameters()}
    mine = {p.name: p.asnumpy() for p in net.get_parameters()}
    head = ("deconv_layers.", "final_layer.")
    for name, value in mine.items():
        if not name.startswith(head):
            np.testing.assert_array_equal(value, theirs[name], err_msg=name)
    for name in ("final_layer.weight", "deconv_layers.0.weight"):  # head keeps its own init
        assert not np.array_equal(mine[name], theirs[name]), name


def test_ctrl_c_in_cli_writes_checkpoint_and_exits_130(
    small_root: Path, tmp_path: Path, train_config
) -> None:
    import subprocess

    run = tmp_path / "run"
    cmd = train_cli_command(small_root, run, train_config, 2, 50)
    proc = subprocess.Popen(
        cmd, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.time() + 120
        while not _steps(run).get(1) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "stopped: epoch" in out and f"simplepose train --resume {run}" in out
    _, _, meta = build_network(run / "last.ckpt")
    assert 1 <= meta["global_step"] < 200
    stops = [m for m in read_metrics(run / "metrics.jsonl") if m["kind"] == "stop"]
    # MindSpore's runtime may pass Ctrl-C on as SIGTERM while a graph runs; both stop cleanly
    assert len(stops) == 1 and stops[0]["reason"] in ("SIGINT", "SIGTERM")
