"""The pipeline end to end with a model that draws known keypoints: geometry + codec exactness."""

import ast
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from simplepose.config.loading import load_config
from simplepose.config.model_info import ModelInfo
from simplepose.config.presets import get_preset
from simplepose.pose.codec import HeatmapCodec
from simplepose.pose.geometry import BoxError, affine_matrices, transform_points
from simplepose.pose.pipeline import PosePipeline, normalise_crops

CFG = load_config("res18_128x96")


class OracleModel:
    """Returns unbiased Gaussian heatmaps of keypoints it was told in image coordinates."""

    def __init__(self, image_keypoints: np.ndarray, flip_fused: bool = True):
        self.info = ModelInfo(config=CFG, format="checkpoint", flip_fused=flip_fused)
        m = CFG.model
        self.codec = HeatmapCodec(m.input_size, m.heatmap_size, m.sigma, unbiased=True)
        self.image_keypoints = image_keypoints
        self.crops = None
        self.calls = 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        mats = affine_matrices(self.crops.centers, self.crops.scales, 0.0, CFG.model.input_size)
        in_crop = transform_points(self.image_keypoints, mats)
        heatmaps, _ = self.codec.encode(in_crop, np.ones(in_crop.shape[:2]))
        return heatmaps


def test_pipeline_recovers_image_keypoints_with_dark():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[40.0, 30.0, 80.0, 160.0], [180.0, 60.0, 100.0, 150.0]])
    truth = np.stack([rng.uniform(b[:2] + 5, b[:2] + b[2:] - 5, (17, 2)) for b in boxes])
    model = OracleModel(truth)
    pipe = PosePipeline(model, decode="dark")
    crops = pipe.preprocess(image, boxes, np.array([0.9, 0.6]))
    model.crops = crops
    assert crops.batch.shape == (2, 3, 128, 96) and crops.batch.dtype == np.float32
    persons = pipe.postprocess(pipe.infer(crops.batch), crops)
    np.testing.assert_allclose(persons.keypoints[:, :, :2], truth, atol=5e-3)
    # score = heatmap value at the integer peak, >= exp(-0.5 / (2 sigma^2)) for a Gaussian
    assert persons.keypoints[:, :, 2].min() >= np.exp(-0.5 / 8) - 1e-6
    assert persons.scores[0] > persons.scores[1] > 0.6 * 0.93  # rescored and sorted


def test_pipeline_flip_not_fused_makes_two_calls_and_zero_boxes():
    model = OracleModel(np.zeros((0, 17, 2)), flip_fused=False)
    pipe = PosePipeline(model, flip=True)
    assert pipe.infer(np.zeros((0, 3, 128, 96), np.float32)).shape == (0, 17, 32, 24)
    assert model.calls == 0
    with pytest.raises(ValueError, match="fused"):
        PosePipeline(OracleModel(np.zeros((1, 17, 2))), flip=False)


def test_pipeline_normalises_in_channel_order():
    pipe = PosePipeline(OracleModel(np.zeros((1, 17, 2))))
    crops = np.zeros((1, 2, 2, 3), np.uint8)
    crops[..., 0] = 255  # blue in BGR
    out = pipe.normalise(crops)  # RGB model: blue ends in channel 2
    np.testing.assert_allclose(out[0, 2, 0, 0], (1.0 - 0.406) / 0.225, rtol=1e-5)
    np.testing.assert_allclose(out[0, 0, 0, 0], (0.0 - 0.485) / 0.229, rtol=1e-5)


@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_normalise_equals_the_textbook_formula_bit_for_bit(order):
    """The reordered fast path gives exactly ``(x[channels] - mean) / std`` in float32."""
    model = replace(get_preset("res50_256x192").model, channel_order=order)
    crops = np.random.default_rng(3).integers(0, 256, (3, 32, 24, 3), dtype=np.uint8)
    channels = crops[..., ::-1] if order == "RGB" else crops
    mean = np.asarray(model.mean, np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(model.std, np.float32) * 255.0)
    expected = ((channels.astype(np.float32) - mean) * inv_std).transpose(0, 3, 1, 2)
    out = normalise_crops(crops, model)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == (3, 3, 32, 24)
    np.testing.assert_array_equal(out, expected)


def test_pipeline_rejects_bad_boxes_and_images():
    pipe = PosePipeline(OracleModel(np.zeros((1, 17, 2))))
    image = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(BoxError, match="box 0"):
        pipe.preprocess(image, np.array([[500.0, 500.0, 10.0, 10.0]]))
    with pytest.raises(ValueError, match="BGR"):
        pipe.preprocess(np.zeros((100, 100), np.uint8))
    with pytest.raises(ValueError, match="decode"):
        PosePipeline(OracleModel(np.zeros((1, 17, 2))), decode="best")


# The public API loads models, so it reaches the network package (lazily, inside the call that
# loads one); no other top-level core module does, and none imports MindSpore itself.
LOADS_MODELS = {"estimator.py"}


def test_pure_core_modules_do_not_import_mindspore():
    core = Path(__file__).resolve().parents[2] / "simplepose"
    for path in core.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith("mindspore"), f"{path.name} imports {name}"
                if path.name not in LOADS_MODELS:
                    assert not name.startswith("simplepose.network"), f"{path.name} imports {name}"


def test_keypoints_beyond_the_image_are_clipped_to_its_pixels():
    """The whole-image fallback crop is padded beyond a wide image (aspect fix + 1.25), so a
    heatmap peak can lie above or left of the image: positions come back clipped, scores kept."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (100, 300, 3), dtype=np.uint8)  # wide: crop reaches y < 0
    truth = rng.uniform((10.0, 10.0), (290.0, 90.0), (1, 17, 2))
    truth[0, 0] = (150.0, -40.0)  # above the image, inside the padded crop
    truth[0, 1] = (-3.0, 50.0)  # left of it
    truth[0, 2] = (320.0, 130.0)  # right of and below it
    model = OracleModel(truth)
    pipe = PosePipeline(model, decode="dark")
    crops = pipe.preprocess(image)
    model.crops = crops
    persons = pipe.postprocess(pipe.infer(crops.batch), crops)
    xy, scores = persons.keypoints[0, :, :2], persons.keypoints[0, :, 2]
    np.testing.assert_allclose(xy[0], (150.0, 0.0), atol=5e-3)
    np.testing.assert_allclose(xy[1], (0.0, 50.0), atol=5e-3)
    np.testing.assert_allclose(xy[2], (299.0, 99.0), atol=5e-3)
    np.testing.assert_allclose(xy[3:], truth[0, 3:], atol=5e-3)  # inside: untouched
    assert scores[:3].min() > 0.9  # the model was sure; clipping keeps its score
