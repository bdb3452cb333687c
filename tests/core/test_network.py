import mindspore as ms
import numpy as np
import pytest

import simplepose  # noqa: F401  (oneDNN cap before MindSpore)
from simplepose.config.presets import get_preset
from simplepose.network.checkpoint import (
    CheckpointError,
    build_network,
    read_checkpoint,
)
from simplepose.network.pose_net import FlipTestNet, JointsMSELoss, PoseResNet
from simplepose.pose.codec import flip_back
from simplepose.pose.keypoints import COCO17
from simplepose.runtime.model_loader import InputShapeError, load_model


def test_r50_parameter_names_follow_msra_layout_and_size():
    net = PoseResNet(get_preset("res50_256x192").model)
    params = {p.name: p.shape for p in net.get_parameters()}
    assert params["conv1.weight"] == (64, 3, 7, 7)
    assert params["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert params["layer4.2.bn3.moving_variance"] == (2048,)
    assert params["deconv_layers.0.weight"] == (2048, 256, 4, 4)  # (in, out, kh, kw) as in torch
    assert params["deconv_layers.7.gamma"] == (256,)
    assert params["final_layer.weight"] == (17, 256, 1, 1) and params["final_layer.bias"] == (17,)
    total = sum(int(np.prod(s)) for s in params.values())
    assert 33.9e6 < total < 34.1e6  # 34 M parameters (REFERENCE)


def test_output_shape_and_flip_fusion_matches_two_pass(tiny_config):
    ms.set_seed(3)
    net = PoseResNet(tiny_config.model)
    net.set_train(False)
    x = np.random.default_rng(0).standard_normal((3, 3, 96, 64)).astype(np.float32)
    plain = net(ms.Tensor(x)).asnumpy()
    assert plain.shape == (3, 17, 24, 16)
    flipped = net(ms.Tensor(np.ascontiguousarray(x[..., ::-1]))).asnumpy()
    expected = (plain + flip_back(flipped, COCO17.flip_index())) * 0.5
    fused = FlipTestNet(net, COCO17.flip_index())(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(fused, expected, atol=1e-5)


def test_joints_mse_loss_hand_example():
    pred = np.zeros((1, 2, 2, 2), np.float32)
    target = np.ones((1, 2, 2, 2), np.float32)
    loss = JointsMSELoss()(
        ms.Tensor(pred), ms.Tensor(target), ms.Tensor(np.array([[1.0, 0.0]], np.float32))
    )
    assert float(loss.asnumpy()) == pytest.approx(0.5 * 0.5)  # joint 0: MSE 1, joint 1 masked


def test_checkpoint_round_trip_and_metadata(tiny_checkpoint, tiny_config):
    net, config, meta = build_network(tiny_checkpoint)
    assert config == tiny_config and meta["epoch"] == 0
    params, _ = read_checkpoint(tiny_checkpoint)
    for p in net.get_parameters():
        np.testing.assert_array_equal(p.asnumpy(), params[p.name].asnumpy())


def test_checkpoint_errors_are_loud(tmp_path, tiny_config, tiny_checkpoint):
    with pytest.raises(FileNotFoundError):
        build_network(tmp_path / "missing.ckpt")
    wider = tiny_config.model.__class__(**{**tiny_config.model.__dict__, "deconv_channels": 48})
    with pytest.raises(CheckpointError, match="deconv_channels: checkpoint 32, config 48"):
        build_network(tiny_checkpoint, tiny_config.__class__(name="x", model=wider))
    plain = tmp_path / "plain.ckpt"
    ms.save_checkpoint(PoseResNet(tiny_config.model), str(plain))
    with pytest.raises(CheckpointError, match="--config"):
        build_network(plain)
    with pytest.raises(CheckpointError, match="wrong shape"):  # no metadata to compare with
        build_network(plain, tiny_config.__class__(name="x", model=wider))
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        build_network(junk)


def test_runtime_validates_shape_before_running(tiny_checkpoint):
    model = load_model(tiny_checkpoint)
    assert model.info.flip_fused and model.info.format == "checkpoint"
    out = model(np.zeros((2, 3, 96, 64), np.float32))
    assert out.shape == (2, 17, 24, 16)
    with pytest.raises(InputShapeError, match=r"\(N>=1, 3, 96, 64\)"):
        model(np.zeros((2, 3, 256, 192), np.float32))
    with pytest.raises(InputShapeError, match="float32"):
        model(np.zeros((2, 3, 96, 64), np.float64))
    with pytest.raises(FileNotFoundError):
        load_model(tiny_checkpoint.parent / "nope.ckpt")
