"""Export: the loaded MindIR/ONNX graph equals the eager two-pass flip reference."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from simplepose.config.model_info import ModelInfo
from simplepose.config.presets import Config
from simplepose.export.exporter import export_model
from simplepose.hub.download import sha256_file
from simplepose.pose.codec import HeatmapCodec, flip_back
from simplepose.pose.keypoints import COCO17, KeypointSet
from simplepose.runtime.model_loader import InputShapeError, load_model

BATCHES = (1, 3, 8)


def crops(config: Config, n: int, seed: int) -> np.ndarray:
    w, h = config.model.input_size
    return np.random.default_rng(seed).standard_normal((n, 3, h, w)).astype(np.float32)


@pytest.fixture(scope="module")
def eager(tiny_checkpoint: Path):
    from simplepose.network.checkpoint import build_network

    net, _, _ = build_network(tiny_checkpoint)
    return net


def two_pass_reference(net, batch: np.ndarray, keypoints: KeypointSet = COCO17) -> np.ndarray:
    """Flip test the slow way: two network calls, NumPy flip-back (with shift) with the pairs of
    ``keypoints``, and mean."""
    import mindspore as ms

    plain = net(ms.Tensor(batch)).asnumpy()
    flipped = net(ms.Tensor(np.ascontiguousarray(batch[..., ::-1]))).asnumpy()
    return (plain + flip_back(flipped, keypoints.flip_index())) * 0.5


@pytest.fixture(scope="module")
def mindir_dir(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    out = tmp_path_factory.mktemp("mindir")
    export_model(tiny_checkpoint, out)
    return out


@pytest.mark.slow
def test_mindir_equals_two_pass_flip_reference(mindir_dir, eager, tiny_config):
    model = load_model(mindir_dir)
    assert model.info.flip_fused and model.info.batch_size is None
    for n in BATCHES:
        batch = crops(tiny_config, n, seed=n)
        out = model(batch)
        h, w = tiny_config.model.heatmap_size[::-1]
        assert out.shape == (n, 17, h, w)
        np.testing.assert_allclose(out, two_pass_reference(eager, batch), rtol=0, atol=1e-5)


def test_model_json_records_everything_the_service_needs(mindir_dir, tiny_checkpoint, tiny_config):
    import mindspore as ms

    data = json.loads((mindir_dir / "model.json").read_text())
    assert (mindir_dir / "model.mindir").is_file()
    assert data["format"] == "mindir"
    assert data["flip_fused"] is True
    assert data["outputs"] == "heatmaps"
    assert data["batch_size"] is None
    assert data["source_sha256"] == sha256_file(tiny_checkpoint)
    assert data["source_checkpoint"] == str(tiny_checkpoint.resolve())
    assert data["mindspore_version"] == ms.__version__
    assert data["input_size"] == list(tiny_config.model.input_size)
    assert data["heatmap_size"] == list(tiny_config.model.heatmap_size)
    assert data["channel_order"] == "RGB"
    assert data["mean"] == list(tiny_config.model.mean)
    assert data["std"] == list(tiny_config.model.std)
    assert len(data["keypoint_names"]) == 17 and [1, 2] in data["flip_pairs"]
    assert ModelInfo.load(mindir_dir).config == tiny_config


def test_wrong_input_is_rejected_before_the_runtime(mindir_dir, tiny_config):
    model = load_model(mindir_dir)
    w, h = tiny_config.model.input_size
    with pytest.raises(InputShapeError, match=rf"\(N>=1, 3, {h}, {w}\)"):
        model(np.zeros((2, 3, h + 32, w), np.float32))
    with pytest.raises(InputShapeError, match="shape"):
        model(np.zeros((2, 1, h, w), np.float32))
    with pytest.raises(InputShapeError, match="float32"):
        model(np.zeros((2, 3, h, w), np.float64))


@pytest.mark.slow
def test_export_without_flip_is_the_plain_network(
    tmp_path, tiny_checkpoint, eager, tiny_config, mindir_dir
):
    import mindspore as ms

    from simplepose.pose.pipeline import PosePipeline

    info = export_model(tiny_checkpoint, tmp_path, flip=False)
    assert info.flip_fused is False
    batch = crops(tiny_config, 3, seed=7)
    expected = eager(ms.Tensor(batch)).asnumpy()
    np.testing.assert_allclose(load_model(tmp_path)(batch), expected, rtol=0, atol=1e-5)
    # The pipeline's two-pass flip test on this graph equals the flip-fused graph.
    two_pass, fused = PosePipeline(load_model(tmp_path), flip=True), load_model(mindir_dir)
    for n in (1, 5):
        batch = crops(tiny_config, n, seed=20 + n)
        np.testing.assert_allclose(two_pass.infer(batch), fused(batch), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_onnx_runs_in_onnxruntime_and_matches(tmp_path, tiny_checkpoint, eager, tiny_config):
    import onnx
    import onnxruntime  # noqa: F401  (dev extra: missing is an error, not a skip)

    info = export_model(tiny_checkpoint, tmp_path, fmt="onnx", batch_size=4)
    assert info.format == "onnx" and info.batch_size == 4
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    deconvs = [n for n in graph.node if n.op_type == "ConvTranspose"]
    assert deconvs and all(a.name != "output_shape" for n in deconvs for a in n.attribute)
    model = load_model(tmp_path)
    batch = crops(tiny_config, 6, seed=11)  # not a multiple of 4: padded and split
    np.testing.assert_allclose(model(batch), two_pass_reference(eager, batch), rtol=0, atol=1e-4)


@pytest.mark.slow
def test_fused_decode_equals_codec_quarter_decode(
    tmp_path, tiny_checkpoint, mindir_dir, tiny_config
):
    info = export_model(tiny_checkpoint, tmp_path, fuse_decode=True)
    assert info.outputs == "keypoints" and info.extra["fused_decode"] == "quarter"
    batch = crops(tiny_config, 5, seed=3)
    keypoints = load_model(tmp_path)(batch)
    heatmaps = load_model(mindir_dir)(batch)
    m = tiny_config.model
    coords, scores = HeatmapCodec(m.input_size, m.heatmap_size).decode(heatmaps, "quarter")
    assert keypoints.shape == (5, 17, 3)
    np.testing.assert_allclose(keypoints[..., :2], coords, rtol=0, atol=1e-6)
    np.testing.assert_allclose(keypoints[..., 2], scores, rtol=0, atol=1e-6)
    if importlib.util.find_spec("onnxruntime") is not None:
        export_model(tiny_checkpoint, tmp_path / "onnx", fmt="onnx", fuse_decode=True, batch_size=2)
        onnx_keypoints = load_model(tmp_path / "onnx")(batch)
        np.testing.assert_allclose(onnx_keypoints[..., :2], coords, rtol=0, atol=1e-6)
        np.testing.assert_allclose(onnx_keypoints[..., 2], scores, rtol=0, atol=1e-4)


def test_quarter_decode_cell_matches_codec_on_edge_cases():
    import mindspore as ms

    from simplepose.export.decode_net import QuarterDecode

    h, w = 9, 7
    rng = np.random.default_rng(0)
    maps = rng.random((4, 17, h, w)).astype(np.float32)
    maps[0, 0] = -1.0  # no positive maximum -> (0, 0, 0)
    maps[0, 0, 4, 3] = -0.5
    maps[0, 1] = 0.0
    maps[0, 1, 0, 0] = 2.0  # corner: no refinement
    maps[0, 2] = 0.0
    maps[0, 2, 1, 3] = 2.0  # row 1 is not inside 1 < y: no refinement
    maps[0, 3] = 0.0
    maps[0, 3, 4, 3], maps[0, 3, 4, 4], maps[0, 3, 5, 3] = 2.0, 1.0, 1.0  # +x, +y steps
    maps[0, 4] = 0.0
    maps[0, 4, 4, 3], maps[0, 4, 4, 2] = 2.0, 1.0  # -x step, no y step (equal neighbours)
    got = QuarterDecode((w, h))(ms.Tensor(maps)).asnumpy()
    coords, scores = HeatmapCodec((w * 4, h * 4), (w, h)).decode(maps, "quarter")
    np.testing.assert_allclose(got[..., :2], coords, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got[..., 2], scores, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(got[0, 3, :2], [3.25, 4.25])
    np.testing.assert_array_equal(got[0, 4, :2], [2.75, 4.0])


def test_export_rejects_bad_options(tmp_path, tiny_checkpoint):
    with pytest.raises(ValueError, match="mindir"):
        export_model(tiny_checkpoint, tmp_path, fmt="tflite")
    with pytest.raises(ValueError, match="batch size"):
        export_model(tiny_checkpoint, tmp_path, batch_size=0)
    with pytest.raises(FileNotFoundError):
        export_model(tmp_path / "missing.ckpt", tmp_path)
    assert not (tmp_path / "model.json").exists()


@pytest.mark.slow
def test_channel_order_flows_from_checkpoint_to_model_json(tmp_path, tiny_config):
    from dataclasses import replace

    import mindspore as ms

    from simplepose.network.checkpoint import save_pose_checkpoint
    from simplepose.network.pose_net import PoseResNet

    bgr = replace(tiny_config, model=replace(tiny_config.model, channel_order="BGR"))
    ms.set_seed(1)
    ckpt = save_pose_checkpoint(
        PoseResNet(bgr.model), tmp_path / "bgr.ckpt", bgr, {"source": "test"}
    )
    info = export_model(ckpt, tmp_path / "out", batch_size=2)
    assert info.model.channel_order == "BGR"
    assert ModelInfo.load(tmp_path / "out").model.channel_order == "BGR"
    assert info.extra == {"source": "test"} and info.batch_size == 2


@pytest.mark.slow
def test_a_config_keeps_the_checkpoints_data_facts(tmp_path, tiny_config, caplog):
    """Naming the preset of the same network keeps a BGR checkpoint BGR; an explicit value
    overrides it (with a warning); another architecture is refused."""
    from dataclasses import replace

    import mindspore as ms

    from simplepose.network.checkpoint import save_pose_checkpoint
    from simplepose.network.pose_net import PoseResNet

    bgr = replace(tiny_config, model=replace(tiny_config.model, channel_order="BGR",
                                             mean=(0.4, 0.4, 0.4)))  # fmt: skip
    ms.set_seed(1)
    ckpt = save_pose_checkpoint(PoseResNet(bgr.model), tmp_path / "bgr.ckpt", bgr)
    info = export_model(ckpt, tmp_path / "preset", config=tiny_config, batch_size=1)
    assert (info.model.channel_order, info.model.mean) == ("BGR", (0.4, 0.4, 0.4))
    explicit = replace(tiny_config, model=replace(tiny_config.model, std=(0.3, 0.3, 0.3)))
    info = export_model(ckpt, tmp_path / "explicit", config=explicit, batch_size=1)
    assert (info.model.channel_order, info.model.std) == ("BGR", (0.3, 0.3, 0.3))
    assert "model.std (0.3, 0.3, 0.3) overrides" in caplog.text
    deeper = replace(tiny_config, model=replace(tiny_config.model, depth=34))
    with pytest.raises(ValueError, match="depth: checkpoint 18, config 34"):
        export_model(ckpt, tmp_path / "deeper", config=deeper)
    assert not (tmp_path / "deeper" / "model.json").exists()
