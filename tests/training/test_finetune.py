"""``train --init-from``: which checkpoint a source names, what of it is loaded (the final layer
only for the same keypoint set), and the run's TensorBoard events, results.png and prediction
grid."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from custom_keypoints import keypoints_section
from events import read_scalars

from simplepose.config.model_info import ModelInfo
from simplepose.config.presets import Config
from simplepose.network.checkpoint import build_network, save_pose_checkpoint
from simplepose.pose.keypoints import KeypointSet
from simplepose.training.init_from import (
    InitError,
    load_init,
    read_source,
    resolve_source,
    run_config,
)
from simplepose.training.report import FIGURE_DPI, FIGURE_SIZE
from simplepose.training.trainer import TrainOptions, train


def _params(net) -> dict[str, np.ndarray]:
    return {p.name: p.asnumpy() for p in net.get_parameters()}


def _upper9(config: Config) -> Config:
    return config.with_keypoints(KeypointSet.from_dict(keypoints_section()))


def _renamed(config: Config) -> Config:
    """COCO's 17 points in another order: as many joints, another keypoint set."""
    k = config.keypoints
    order = [*range(1, 17), 0]
    return config.with_keypoints(
        KeypointSet(
            names=tuple(k.names[i] for i in order),
            skeleton=(),
            sigmas=tuple(k.sigmas[i] for i in order),
            name="coco17-reordered",
        )
    )


def test_sources_resolve_to_checkpoints(tmp_path: Path, tiny_checkpoint: Path, tiny_config):
    assert resolve_source(str(tiny_checkpoint)) == tiny_checkpoint
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.ckpt").write_bytes(b"x")
    assert resolve_source(str(run)) == run / "last.ckpt"
    (run / "best.ckpt").write_bytes(b"x")
    assert resolve_source(str(run)) == run / "best.ckpt"  # the best one, when there is one
    model = tmp_path / "model"
    model.mkdir()
    ModelInfo(config=tiny_config, source_checkpoint=str(tiny_checkpoint)).save(model)
    assert resolve_source(str(model)) == tiny_checkpoint
    ModelInfo(config=tiny_config, source_checkpoint="/elsewhere/gone.ckpt").save(model)
    with pytest.raises(InitError, match="whose checkpoint is not here"):
        resolve_source(str(model))
    (model / "gone.ckpt").write_bytes(b"x")  # a directory carrying its own checkpoint
    assert resolve_source(str(model)) == model / "gone.ckpt"
    with pytest.raises(InitError, match="holds no pose checkpoint"):
        resolve_source(str(tmp_path / "model" / ".."))  # tmp_path: neither kind of directory
    with pytest.raises(InitError, match="expected a .ckpt"):
        resolve_source(str(model / "model.json"))
    with pytest.raises(InitError, match="no such checkpoint"):
        resolve_source(str(tmp_path / "missing.ckpt"))
    assert resolve_source("some-name", lambda name: tmp_path / f"{name}.ckpt") == (
        tmp_path / "some-name.ckpt"
    )
    with pytest.raises(InitError, match="no registry"):
        resolve_source("some-name")


def test_registry_names_resolve_through_the_hub_builders(tmp_path: Path) -> None:
    import argparse

    from simplepose.hub.resolve import Builders
    from simplepose.training.init_from import cli_source

    asked: list[tuple[str, bool]] = []

    def checkpoint(entry, options) -> Path:
        asked.append((entry.name, options.offline))
        return tmp_path / f"{entry.name}.ckpt"

    args = argparse.Namespace(
        init_from="mmpose1-res50-256x192", resume=None, pretrained=None, offline=True,
        builders=Builders(checkpoint=checkpoint),
    )  # fmt: skip
    assert cli_source(args) == tmp_path / "mmpose1-res50-256x192.ckpt"
    assert asked == [("mmpose1-res50-256x192", True)]
    with pytest.raises(InitError, match="unknown weights"):
        cli_source(argparse.Namespace(**{**vars(args), "init_from": "no-such-model"}))


def test_same_keypoints_keep_every_layer(tiny_checkpoint: Path, tiny_config, caplog) -> None:
    import mindspore as ms

    from simplepose.network.pose_net import PoseResNet

    source = read_source(tiny_checkpoint)
    ms.set_seed(99)
    net = PoseResNet(tiny_config.model)
    with caplog.at_level(logging.WARNING):
        line = load_init(net, run_config(tiny_config, source), source)
    assert "final layer (same 17 keypoints)" in line and line in caplog.text
    theirs, _, _ = build_network(tiny_checkpoint)
    expected = _params(theirs)
    for name, value in _params(net).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


@pytest.mark.parametrize(("make", "joints"), [(_upper9, 9), (_renamed, 17)])
def test_other_keypoints_reinitialise_the_final_layer(
    tiny_checkpoint: Path, tiny_config, caplog, make, joints: int
) -> None:
    import mindspore as ms

    from simplepose.network.pose_net import PoseResNet

    source = read_source(tiny_checkpoint)
    config = make(tiny_config)
    ms.set_seed(99)
    net = PoseResNet(config.model)
    before = _params(net)["final_layer.weight"]
    with caplog.at_level(logging.WARNING):
        line = load_init(net, run_config(config, source), source)
    assert "final layer re-initialised" in line and f"this run {joints} (" in line
    assert "17 keypoints (nose, left_eye" in line and line in caplog.text
    theirs, _, _ = build_network(tiny_checkpoint)
    expected, mine = _params(theirs), _params(net)
    assert mine["final_layer.weight"].shape[0] == joints
    np.testing.assert_array_equal(mine["final_layer.weight"], before)  # its own init
    for name, value in mine.items():
        if not name.startswith("final_layer."):
            np.testing.assert_array_equal(value, expected[name], err_msg=name)


def test_other_architectures_and_backbones_are_refused(
    tmp_path: Path, tiny_checkpoint: Path, tiny_config
) -> None:
    import mindspore as ms

    from simplepose.network.pose_net import PoseResNet

    source = read_source(tiny_checkpoint)
    wide = replace(tiny_config, model=replace(tiny_config.model, deconv_channels=64))
    with pytest.raises(InitError, match="deconv_channels: checkpoint 32, run 64"):
        run_config(wide, source)
    # another input size is the same network (fully convolutional): accepted
    bigger = replace(tiny_config.model, input_size=(96, 128), heatmap_size=(24, 32))
    assert run_config(replace(tiny_config, model=bigger), source).model.input_size == (96, 128)
    backbone = tmp_path / "backbone.ckpt"
    save_pose_checkpoint(PoseResNet(tiny_config.model), backbone, tiny_config,
                         {"backbone_only": True})  # fmt: skip
    with pytest.raises(InitError, match="use --pretrained"):
        read_source(backbone)
    bare = tmp_path / "bare.ckpt"
    ms.save_checkpoint(PoseResNet(tiny_config.model), str(bare))
    with pytest.raises(InitError, match="no simplepose metadata"):
        read_source(bare)


def test_bgr_weights_carry_their_channel_order(
    tmp_path: Path, tiny_checkpoint: Path, tiny_config
) -> None:
    net, _, _ = build_network(tiny_checkpoint)
    bgr = replace(tiny_config, model=replace(tiny_config.model, channel_order="BGR"))
    path = save_pose_checkpoint(net, tmp_path / "bgr.ckpt", bgr)
    assert run_config(tiny_config, read_source(path)).model.channel_order == "BGR"


@pytest.mark.slow
def test_fine_tuned_run_writes_events_curves_and_grid(
    small_root: Path, tmp_path: Path, train_config, tiny_checkpoint: Path
) -> None:
    run = tmp_path / "ft"
    summary = train(
        train_config,
        TrainOptions(small_root, run, val_split="val2017", progress=False,
                     init_from=tiny_checkpoint),
    )  # fmt: skip
    assert summary.state.global_step == 6  # 8 persons, batch 4, 3 epochs
    scalars = read_scalars(run)
    assert [s for s, _ in scalars["train/loss"]] == [1, 2, 3, 4, 5, 6]
    assert [s for s, _ in scalars["val/AP"]] == [2, 4, 6]
    assert all(0.0 <= v <= 1.0 for _, v in scalars["val/AP"])
    lrs = dict(scalars["train/lr"])  # lr_steps [1, 2]: x0.1 after epoch 1 and 2
    assert lrs[1] == pytest.approx(1e-3) and lrs[6] == pytest.approx(1e-5)
    png = cv2.imread(str(run / "results.png"))
    assert png.shape == (FIGURE_SIZE[1] * FIGURE_DPI, FIGURE_SIZE[0] * FIGURE_DPI, 3)
    grid = cv2.imread(str(run / "predictions.jpg"))
    assert grid is not None and grid.shape == (2 * 320, 4 * 320, 3)  # 8 val images, 4 wide


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--init-from", "no/such.ckpt"], "no such checkpoint or directory"),
        (["--init-from", "not-a-registry-name"], "unknown weights 'not-a-registry-name'"),
        (["--init-from", "x.ckpt", "--pretrained", "y.ckpt"], "give --pretrained or --init-from"),
    ],
)
def test_init_from_errors_are_one_line(
    small_root: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    cmd = [sys.executable, "-m", "simplepose.cli", "train", "--data", str(small_root),
           "--output", str(tmp_path / "run"), *extra]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
