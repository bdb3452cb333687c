"""``simplepose detect`` writes COCO detections that ``evaluate --boxes FILE`` reads;
``predict`` and ``evaluate --boxes detector`` run the same detector code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  (dev extra: missing is an error, not a skip)
import pytest

from simplepose.cli import main
from tests.detection_graph import graph_finding

IMAGE, IMAGE_ID = "000000217285.jpg", 217285  # coco-mini val2017, 640x427


@pytest.fixture(scope="module")
def found(coco_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A stand-in end2end detector that finds three ground-truth people of IMAGE."""
    data = json.loads((coco_mini / "annotations" / "person_keypoints_val2017.json").read_text())
    boxes = np.array([a["bbox"] for a in data["annotations"] if a["image_id"] == IMAGE_ID][:3])
    graph = graph_finding(tmp_path_factory.mktemp("g") / "end2end.onnx", boxes, (640, 427))
    return graph, boxes


def test_detect_writes_coco_detections_that_evaluate_reads(coco_mini, found, tmp_path) -> None:
    from simplepose.training.coco import detection_boxes, image_dir, load_annotations

    graph, truth = found
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"no jpeg")
    out = tmp_path / "dets.json"
    args = ["detect", str(coco_mini / "val2017" / IMAGE)]
    options = ["--detector", str(graph), "--output", str(out), "--device", "CPU"]
    assert main([*args, *options]) == 0
    records = json.loads(out.read_text())
    assert {r["image_id"] for r in records} == {IMAGE_ID}
    assert {r["category_id"] for r in records} == {1}
    got = np.array(sorted(r["bbox"] for r in records))
    np.testing.assert_allclose(got, sorted(truth.tolist()), atol=0.02)
    data = load_annotations(coco_mini, "val2017")
    items = detection_boxes(out, data, image_dir(coco_mini, "val2017"), 0.0)
    assert len(items[IMAGE_ID].boxes) == 3
    # a broken file is reported and fails the run; the readable ones are still written
    assert main([*args, str(broken), *options]) == 1
    assert len(json.loads(out.read_text())) == 3


def test_detect_user_errors_exit_2(coco_mini, tmp_path, capsys) -> None:
    image = str(coco_mini / "val2017" / IMAGE)
    assert main(["detect", image, "--detector", "yolo-magic", "--output", str(tmp_path / "d")]) == 2
    assert "unknown detector 'yolo-magic'" in capsys.readouterr().err
    offline = ["--detector", "yolox-m-humanart", "--offline", "--cache-dir", str(tmp_path)]
    assert main(["detect", image, *offline]) == 2
    assert "simplepose weights get yolox-m-humanart" in capsys.readouterr().err


@pytest.mark.slow
def test_predict_uses_the_detector_for_images_without_boxes(
    coco_mini, found, tiny_checkpoint, tmp_path
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(coco_mini / "val2017" / IMAGE, folder / IMAGE)
    out = tmp_path / "r.json"
    base = ["predict", str(folder), "--model", str(tiny_checkpoint), "--output", str(out)]
    assert main([*base, "--detector", str(found[0]), "--device", "CPU"]) == 0
    result = json.loads(out.read_text())
    (image,) = result["images"]
    assert image["boxes_from"] == result["detector"] == "g0 (onnxruntime CPU)"
    got = np.array(sorted(p["bbox"] for p in image["persons"]))
    np.testing.assert_allclose(got, sorted(found[1].tolist()), atol=0.02)
    assert main([*base, "--detector", "none"]) == 0
    persons = json.loads(out.read_text())["images"][0]["persons"]
    assert [p["bbox"] for p in persons] == [[0.0, 0.0, 640.0, 427.0]]


def test_evaluate_boxes_detector_uses_the_same_detections(coco_mini, found) -> None:
    from simplepose.detection import load_detector
    from simplepose.training.coco import image_dir, load_annotations
    from simplepose.training.evaluate import detector_items

    data = load_annotations(coco_mini, "val2017")
    detector = load_detector(str(found[0]), device="CPU")
    items = detector_items(detector, data, image_dir(coco_mini, "val2017"), 0.5)
    np.testing.assert_allclose(
        np.array(sorted(items[IMAGE_ID].boxes.tolist())), sorted(found[1].tolist()), atol=0.02
    )
    assert all(len(it.scores) == len(it.boxes) for it in items.values())


@pytest.mark.slow
def test_cli_evaluate_boxes_detector(coco_mini, tiny_checkpoint, tmp_path, capsys) -> None:
    """The command line wiring (the detections themselves: the test above); ``none`` keeps it
    to one crop per image."""
    out = tmp_path / "res.json"
    base = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--data", str(coco_mini),
            "--device", "CPU", "--boxes", "detector"]  # fmt: skip
    assert main([*base, "--detector", "none", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "boxes: person detector none (whole image is one person)" in text
    assert "79 images, 79 person boxes" in text
    assert {r["image_id"] for r in json.loads(out.read_text())} >= {IMAGE_ID}
    assert main([*base[:-2], "--detector", "hog"]) == 2  # --detector needs --boxes detector
    assert "only used with --boxes detector" in capsys.readouterr().err
