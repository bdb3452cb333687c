"""Conversion of public PyTorch layouts: same heatmaps as PyTorch, shapes checked, metadata."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_reference

from simplepose.config.presets import get_preset
from simplepose.export.convert import convert_checkpoint
from simplepose.export.layouts import LayoutError, infer_model_fields, map_layout, unwrap_state_dict
from simplepose.network.checkpoint import CheckpointError

PARITY_ATOL = 1e-4
PRESET = "res18_128x96"  # R18 with the full 256-channel head, small input for CPU speed


@pytest.fixture(scope="module")
def torch_net():
    return torch_reference.random_pose_net(18, seed=0)


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    w, h = get_preset(PRESET).model.input_size
    return np.random.default_rng(0).standard_normal((2, 3, h, w)).astype(np.float32)


def save_layout(net, layout: str, path: Path) -> Path:
    torch.save(torch_reference.layout_state_dict(net, layout), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["msra", "mmpose0", "mmpose1"])
def test_converted_network_matches_pytorch(tmp_path, torch_net, batch, layout):
    import mindspore as ms

    from simplepose.network.checkpoint import build_network

    src = save_layout(torch_net, layout, tmp_path / f"{layout}.pth")
    report = convert_checkpoint(src, tmp_path / "out.ckpt", config=get_preset(PRESET))
    assert report.layout == layout and not report.missing
    assert all(k.endswith("num_batches_tracked") for k in report.dropped)
    net, config, meta = build_network(tmp_path / "out.ckpt")
    expected = torch_reference.run(torch_net, batch)
    got = net(ms.Tensor(batch)).asnumpy()
    assert np.abs(expected).max() > 1e-2  # the comparison is not between two near-zero maps
    assert np.abs(got - expected).max() <= PARITY_ATOL
    assert meta["layout"] == layout and meta["backbone_only"] is False
    assert config.model.channel_order == ("BGR" if layout == "msra" else "RGB")


@pytest.mark.slow
def test_torchvision_backbone_only(tmp_path, torch_net, batch):
    import mindspore as ms

    from simplepose.network.checkpoint import build_network

    src = save_layout(torch_net, "torchvision", tmp_path / "resnet18.pth")
    report = convert_checkpoint(src, tmp_path / "out.ckpt")
    assert report.layout == "torchvision" and report.backbone_only
    assert {"fc.weight", "fc.bias"} <= set(report.dropped)
    assert report.missing and all(
        k.startswith(("deconv_layers.", "final_layer.")) for k in report.missing
    )
    assert report.config.name == "res18_256x192"
    net, _, meta = build_network(tmp_path / "out.ckpt")
    assert meta["backbone_only"] is True
    t = torch.from_numpy(batch)
    with torch.no_grad():
        n = torch_net
        features = n.layer4(n.layer3(n.layer2(n.layer1(n.maxpool(n.relu(n.bn1(n.conv1(t))))))))
    got = net.forward_features(ms.Tensor(batch)).asnumpy()
    assert np.abs(got - features.numpy()).max() <= PARITY_ATOL


@pytest.mark.slow
def test_msra_channel_order_reaches_model_json(tmp_path, torch_net):
    from simplepose.export.exporter import export_model

    src = save_layout(torch_net, "msra", tmp_path / "pose_resnet_18.pth")
    convert_checkpoint(src, tmp_path / "msra.ckpt", config=get_preset(PRESET))
    export_model(tmp_path / "msra.ckpt", tmp_path / "model", batch_size=1)
    data = json.loads((tmp_path / "model" / "model.json").read_text())
    assert data["channel_order"] == "BGR"
    assert data["extra"]["layout"] == "msra"
    assert len(data["extra"]["converted_from_sha256"]) == 64


def test_preset_inference_from_shapes():
    with torch.device("meta"):
        r50 = torch_reference.TorchPoseResNet(50, deconv_channels=128, num_joints=17)
    # shape-only stand-ins: broadcast views allocate nothing
    fake = {k: np.broadcast_to(np.float32(0), v.shape) for k, v in r50.state_dict().items()}
    wrapped = torch_reference.layout_state_dict_from(fake, "mmpose1")
    mapped = map_layout(unwrap_state_dict(wrapped), "auto")
    assert mapped.layout == "mmpose1" and mapped.channel_order == "RGB"
    assert infer_model_fields(mapped.params) == {
        "depth": 50,
        "num_deconv_layers": 3,
        "deconv_channels": 128,
        "deconv_kernel": 4,
        "num_joints": 17,
        "final_kernel": 1,
    }
    assert "bn1.moving_variance" in mapped.params and "bn1.running_var" not in mapped.params


@pytest.mark.slow
def test_shape_and_key_problems_are_reported(tmp_path, torch_net):
    sd = torch_net.state_dict()
    wrong = dict(sd)
    wrong["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match=r"wrong shape: layer1\.0\.conv1\.weight"):
        convert_checkpoint(tmp_path / "wrong.pth", tmp_path / "a.ckpt")
    extra = dict(sd)
    extra["neck.weight"] = torch.zeros(3)
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match=r"unexpected: neck\.weight"):
        convert_checkpoint(tmp_path / "extra.pth", tmp_path / "b.ckpt")
    missing = {k: v for k, v in sd.items() if not k.startswith("layer2.1.")}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(LayoutError, match=r"blocks per stage \(2, 1, 2, 2\) match no ResNet"):
        convert_checkpoint(tmp_path / "missing.pth", tmp_path / "c.ckpt", layout="msra")
    with pytest.raises(CheckpointError, match=r"missing: layer2\.1\."):
        convert_checkpoint(tmp_path / "missing.pth", tmp_path / "c.ckpt", config=get_preset(PRESET))
    assert not any((tmp_path / n).exists() for n in ("a.ckpt", "b.ckpt", "c.ckpt"))


def test_unknown_layout_and_config_clash(tmp_path, torch_net):
    torch.save({"foo.weight": torch.zeros(2)}, tmp_path / "foo.pth")
    with pytest.raises(LayoutError, match="unknown checkpoint layout"):
        convert_checkpoint(tmp_path / "foo.pth", tmp_path / "x.ckpt")
    with pytest.raises(ValueError, match="layout must be one of"):
        map_layout({"a": np.zeros(1)}, "detectron")
    with pytest.raises(LayoutError, match="no tensors"):
        unwrap_state_dict({"meta": {"epoch": 1}})
    torch.save(torch_net.state_dict(), tmp_path / "r18.pth")
    r50 = replace(get_preset("res50_256x192"))
    with pytest.raises(ValueError, match="ResNet-50 but the weights are ResNet-18"):
        convert_checkpoint(tmp_path / "r18.pth", tmp_path / "y.ckpt", config=r50)
