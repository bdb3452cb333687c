"""The concrete detectors: HOG, the end2end ONNX loader (on a stand-in graph with the real
interface), box filtering, safe unpacking of downloaded detector zips and ``load_detector``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  (dev extra: missing is an error, not a skip)
import pytest

from simplepose.detection import DetectorLoadError, load_detector
from simplepose.detection.box_ops import BoxFilter, filter_boxes, letterbox
from simplepose.detection.hog import HOG_LABEL, HogDetector
from simplepose.detection.onnx_end2end import OnnxEnd2EndDetector
from simplepose.detection.zoo import extract_graph
from tests.detection_graph import build_end2end_graph, graph_finding

BRIGHT = np.full((120, 160, 3), 255, np.uint8)  # 160 wide, 120 high


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    boxes = [[4, 8, 20, 40], [30, 2, 62, 46], [0, 0, 10, 10], [5, 9, 21, 41]]
    # box 2 is not a person (label 1); box 3 overlaps box 0 (removed by NMS)
    return build_end2end_graph(
        tmp_path_factory.mktemp("det") / "end2end.onnx", np.array(boxes, float),
        np.array([0.9, 0.8, 0.9, 0.85]), np.array([0, 0, 1, 0]),
    )  # fmt: skip


def test_end2end_boxes_come_back_in_image_pixels_person_only(standin: Path):
    det = OnnxEnd2EndDetector(standin, "standin", device="CPU")
    found = det.detect(BRIGHT)
    # letterbox ratio 64/160 = 0.4: input box (4, 8, 20, 40) is image (10, 20, 50, 100)
    np.testing.assert_allclose(found.boxes[0], [10, 20, 40, 80], atol=1e-4)
    np.testing.assert_allclose(found.boxes[1], [75, 5, 80, 110], atol=1e-4)  # y2 clipped to 120
    assert len(found) == 2 and found.scores[0] > found.scores[1] > 0.5
    assert found.detector == det.info.label == "standin (onnxruntime CPU)"
    assert not det.info.fallback and found.image_size == (160, 120)


def test_end2end_black_image_finds_nobody_and_batches_agree(standin: Path):
    det = OnnxEnd2EndDetector(standin, "standin", device="CPU")
    assert len(det.detect(np.zeros((50, 70, 3), np.uint8))) == 0
    batch = det.detect_batch([BRIGHT, np.zeros((50, 70, 3), np.uint8), BRIGHT])
    assert [len(d) for d in batch] == [2, 0, 2]
    np.testing.assert_allclose(batch[2].boxes, det.detect(BRIGHT).boxes)


def test_end2end_static_batch_graph_is_fed_one_by_one(tmp_path: Path):
    graph = graph_finding(tmp_path / "e.onnx", [[10, 20, 40, 80]], (160, 120), batch=1)
    det = OnnxEnd2EndDetector(graph, "static", device="CPU")
    assert det.batch == 1
    found = det.detect_batch([BRIGHT, BRIGHT, BRIGHT])
    assert [len(d) for d in found] == [1, 1, 1]
    np.testing.assert_allclose(found[1].boxes, [[10, 20, 40, 80]], atol=1e-3)


def test_hostile_detector_files_are_refused(tmp_path: Path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a graph" * 100)
    with pytest.raises(DetectorLoadError, match="not a loadable ONNX graph"):
        OnnxEnd2EndDetector(junk, "junk", device="CPU")
    with pytest.raises(DetectorLoadError, match="does not exist"):
        OnnxEnd2EndDetector(tmp_path / "missing.onnx", "x", device="CPU")
    import onnx
    from onnx import TensorProto, helper

    wrong = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["input"], ["boxes"])], "g",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
            [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 3, 8, 8])],
        ),
        opset_imports=[helper.make_opsetid("", 13)],
    )  # fmt: skip
    wrong.ir_version = 8
    onnx.save(wrong, str(tmp_path / "raw.onnx"))
    with pytest.raises(DetectorLoadError, match="neither mmdeploy's end2end 'dets'"):
        OnnxEnd2EndDetector(tmp_path / "raw.onnx", "raw", device="CPU")


def test_filter_boxes_thresholds_clips_drops_nonfinite_and_suppresses():
    xyxy = np.array([[-5, -5, 50, 50], [0, 0, 48, 48], [60, 60, 90, 95], [1, 1, np.nan, 5],
                     [10, 10, 10.5, 40], [20, 20, 30, 30]])  # fmt: skip
    scores = np.array([0.9, 0.8, 0.7, 0.99, 0.95, 0.1])
    boxes, kept = filter_boxes(xyxy, scores, (80, 90), BoxFilter(score_thr=0.3, nms_iou=0.5))
    np.testing.assert_allclose(boxes, [[0, 0, 50, 50], [60, 60, 20, 30]])  # clipped to 80x90
    np.testing.assert_allclose(kept, [0.9, 0.7])
    empty = filter_boxes(np.zeros((0, 4)), np.zeros(0), (10, 10), BoxFilter())
    assert empty[0].shape == (0, 4)


def test_letterbox_keeps_aspect_top_left():
    box = letterbox(np.full((100, 200, 3), 7, np.uint8), (64, 64))
    assert box.ratio == pytest.approx(0.32) and box.canvas.shape == (64, 64, 3)
    assert (box.canvas[:32] == 7).all() and (box.canvas[32:] == 114).all()


def test_hog_finds_nobody_in_a_blank_or_tiny_image_and_is_labelled():
    hog = HogDetector()
    assert len(hog.detect(np.full((200, 150, 3), 128, np.uint8))) == 0
    assert len(hog.detect(np.zeros((20, 20, 3), np.uint8))) == 0
    assert hog.info.fallback and hog.info.label == HOG_LABEL == "hog (low-accuracy fallback)"


def test_hog_finds_the_pedestrian_of_a_coco_mini_image(coco_mini: Path):
    from simplepose.pose.pipeline import read_image

    found = HogDetector().detect(read_image(coco_mini / "train2017" / "000000030752.jpg"))
    assert len(found) >= 1 and 0.5 < found.scores[0] <= 1.0
    h, w = read_image(coco_mini / "train2017" / "000000030752.jpg").shape[:2]
    assert (found.boxes[:, 0] >= 0).all() and (
        found.boxes[:, :2] + found.boxes[:, 2:] <= [w, h]
    ).all()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_extract_graph_takes_only_the_one_end2end_member(tmp_path: Path, standin: Path):
    archive = _zip(tmp_path / "d.zip", {"pkg/end2end.onnx": standin.read_bytes(),
                                         "pkg/pipeline.json": b"{}"})  # fmt: skip
    out = extract_graph(archive, tmp_path / "out" / "end2end.onnx")
    assert out.read_bytes() == standin.read_bytes()
    for members, match in (({"a.txt": b"x"}, "found 0"),
                           ({"a/end2end.onnx": b"1", "b/end2end.onnx": b"2"}, "found 2")):  # fmt: skip
        with pytest.raises(DetectorLoadError, match=match):
            extract_graph(_zip(tmp_path / "bad.zip", members), tmp_path / "bad" / "end2end.onnx")
    with pytest.raises(DetectorLoadError, match="over 100"):
        extract_graph(archive, tmp_path / "big" / "end2end.onnx", max_bytes=100)
    assert not list((tmp_path / "big").iterdir())  # no partial file left behind


def test_load_detector_names(tmp_path: Path, standin: Path):
    assert load_detector("none").info.name == "none"
    assert load_detector("hog").info.label == HOG_LABEL
    assert load_detector(str(standin), device="CPU").info.name == standin.parent.name
    assert load_detector(str(standin.parent), device="CPU").info.source == str(standin)
    with pytest.raises(ValueError, match="unknown detector 'yolo9'"):
        load_detector("yolo9")
    with pytest.raises(ValueError, match="not in the cache"):
        load_detector("yolox-m-humanart", cache=tmp_path, offline=True)
    with pytest.raises(ValueError, match="not a person detector"):
        load_detector("mmpose1-res50-256x192", cache=tmp_path, offline=True)


def test_a_runaway_graph_output_is_bounded():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 500, (50_000, 2))
    xyxy = np.concatenate([xy, xy + rng.uniform(5, 80, (50_000, 2))], axis=1)
    boxes, scores = filter_boxes(xyxy, rng.uniform(0.3, 1, 50_000), (600, 600), BoxFilter())
    assert len(boxes) == 100 and np.all(np.diff(scores) <= 0)
    with pytest.raises(ValueError, match="pre_nms_top_k"):
        BoxFilter(pre_nms_top_k=10)
