"""The detector formats users hold: mmdeploy SDK folders (pipeline.json / deploy.json /
detail.json, read as hostile input), dynamic-size graphs (refused with the fix, or fed by the
options), and Megvii YOLOX raw exports (decoded here), on stand-in graphs built in the tests.

The SDK fixtures mirror the structure mmdeploy writes (``mmdeploy/backend/sdk/export_info.py``:
a ``Transform`` task, a ``Net`` task, an ``mmdet`` postprocess task with ``params``; and the
older demo form with ``score_thr`` on the task), with values of our own.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  (dev extra: missing is an error, not a skip)
import pytest

from simplepose.detection import DetectorLoadError, DetectorOptions, load_detector
from simplepose.detection.mmdeploy_sdk import MAX_SDK_JSON_BYTES, SdkFileError, read_sdk_folder
from simplepose.detection.onnx_end2end import OnnxEnd2EndDetector
from simplepose.detection.yolox_raw import anchor_count
from tests.detection_graph import build_end2end_graph, build_yolox_raw_graph

BRIGHT = np.full((120, 160, 3), 255, np.uint8)

PIPELINE = {  # mmdeploy 1.x, an RTMDet-style person detector exported at 320 x 320
    "pipeline": {
        "input": ["img"],
        "output": ["post_output"],
        "tasks": [
            {
                "type": "Task", "module": "Transform", "name": "Preprocess",
                "input": ["img"], "output": ["prep_output"],
                "transforms": [
                    {"type": "LoadImageFromFile", "backend_args": None},
                    {"type": "Resize", "keep_ratio": True, "size": [96, 96]},
                    {"type": "Pad", "size": [96, 96], "pad_val": {"img": [100, 100, 100]}},
                    {"type": "Normalize", "to_rgb": True, "mean": [120.0, 110.0, 100.0],
                     "std": [60.0, 50.0, 40.0]},
                    {"type": "Pad", "size_divisor": 1},
                    {"type": "DefaultFormatBundle"},
                    {"type": "Collect", "keys": ["img"],
                     "meta_keys": ["img_shape", "pad_shape", "ori_shape", "scale_factor"]},
                ],
            },
            {
                "name": "rtmdet", "type": "Task", "module": "Net", "is_batched": True,
                "input": ["prep_output"], "output": ["infer_output"],
                "input_map": {"img": "input"}, "output_map": {},
            },
            {
                "type": "Task", "module": "mmdet", "name": "postprocess",
                "component": "ResizeBBox",
                "params": {"nms_pre": 1000, "min_bbox_size": 0, "score_thr": 0.2,
                           "nms": {"type": "nms", "iou_threshold": 0.55}, "max_per_img": 50},
                "output": ["post_output"], "input": ["prep_output", "infer_output"],
            },
        ],
    }
}  # fmt: skip
DEPLOY = {
    "version": "1.3.1", "task": "Detector",
    "models": [{"name": "rtmdet", "net": "end2end.onnx", "weights": "", "backend": "onnxruntime",
                "precision": "FP32", "batch_size": 1, "dynamic_shape": True}],
    "customs": [],
}  # fmt: skip
DETAIL = {
    "version": "1.3.1",
    "codebase": {"task": "ObjectDetection", "codebase": "mmdet", "version": "3.3.0"},
    "codebase_config": {"type": "mmdet", "task": "ObjectDetection", "model_type": "end2end",
                        "post_processing": {"score_threshold": 0.05, "iou_threshold": 0.5,
                                            "max_output_boxes_per_class": 200, "keep_top_k": 100}},
    "onnx_config": {"type": "onnx", "opset_version": 11, "save_file": "end2end.onnx",
                    "input_names": ["input"], "output_names": ["dets", "labels"],
                    "input_shape": None},
    "backend_config": {"type": "onnxruntime"},
    "calib_config": {},
}  # fmt: skip
OLD_DEMO = {  # the older SDK demo form: score_thr on the task, size_divisor padding only
    "pipeline": {
        "input": ["img"], "output": ["bboxes"],
        "tasks": [
            {"name": "preprocess", "type": "Task", "module": "Transform", "input": ["img"],
             "output": ["prep_res"],
             "transforms": [{"type": "LoadImageFromFile"},
                            {"type": "Resize", "size": [64, 80], "keep_ratio": False},
                            {"type": "Normalize", "mean": [1, 2, 3], "std": [4, 5, 6],
                             "to_rgb": False},
                            {"type": "Pad", "size_divisor": 32},
                            {"type": "ImageToTensor", "keys": ["img"]},
                            {"type": "Collect", "keys": ["img"], "meta_keys": ["ori_shape"]}]},
            {"name": "retinanet", "type": "Task", "module": "Net", "input": ["prep_res"],
             "output": ["infer_res"], "input_map": {"img": "input"}},
            {"name": "postprocess", "type": "Task", "module": "MMDetPostprocess",
             "input": ["prep_res", "infer_res"], "output": ["bboxes"], "score_thr": 0.4},
        ],
    }
}  # fmt: skip


def sdk_folder(folder: Path, pipeline=PIPELINE, deploy=DEPLOY, detail=DETAIL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (("pipeline.json", pipeline), ("deploy.json", deploy),
                       ("detail.json", detail)):  # fmt: skip
        if data is not None:
            (folder / name).write_text(json.dumps(data, indent=4))
    return folder


def dynamic_graph(path: Path) -> Path:
    """A stand-in end2end graph of dynamic size with two boxes in input pixels."""
    boxes = np.array([[8, 16, 40, 80], [50, 10, 90, 60]], float)
    return build_end2end_graph(path, boxes, np.array([1.0, 0.9]) * 255 / 2.0, np.zeros(2),
                               input_size=None)  # fmt: skip


def test_sdk_folder_gives_its_preprocessing_and_thresholds(tmp_path: Path) -> None:
    sdk = read_sdk_folder(sdk_folder(tmp_path / "sdk"))
    assert sdk is not None and sdk.graph_name == "end2end.onnx"
    spec = sdk.spec
    assert spec.input_size == (96, 96) and spec.keep_ratio and spec.pad_value == 100
    assert spec.channel_order == "RGB" and spec.mean == (120, 110, 100) and spec.std == (60, 50, 40)
    assert spec.rules is not None
    assert (spec.rules.score_thr, spec.rules.nms_iou, spec.rules.max_persons) == (0.2, 0.55, 50)
    old = read_sdk_folder(sdk_folder(tmp_path / "old", OLD_DEMO, None, None))
    assert old is not None and old.graph_name is None
    # size is [height, width]: 80 wide, 64 high; stretched; BGR; the task-level score_thr
    assert old.spec.input_size == (80, 64) and not old.spec.keep_ratio
    assert old.spec.channel_order == "BGR" and old.spec.rules.score_thr == 0.4
    assert read_sdk_folder(tmp_path) is None  # no pipeline.json: nothing to say


def test_dynamic_graph_runs_from_its_sdk_folder_and_options_win(tmp_path: Path) -> None:
    folder = sdk_folder(tmp_path / "det")
    dynamic_graph(folder / "end2end.onnx")
    det = load_detector(str(folder), "CPU")
    assert det.input_size == (96, 96) and det.info.name == "det"
    assert det.info.rules.score_thr == 0.2 and det.info.rules.max_persons == 50
    x, box = det.prepare(BRIGHT)
    assert x.shape == (3, 96, 96) and box.ratio == pytest.approx(0.6)
    # pad 100 in RGB order, normalised: the bottom rows are (100 - mean) / std per channel
    np.testing.assert_allclose(x[:, -1, 0], [(100 - 120) / 60, (100 - 110) / 50, (100 - 100) / 40])
    found = det.detect(BRIGHT)
    # input box (8, 16, 40, 80) / 0.6 in the 160 x 120 image, its bottom clipped to 120
    np.testing.assert_allclose(found.boxes[0], [8 / 0.6, 16 / 0.6, 32 / 0.6, 120 - 16 / 0.6],
                               atol=1e-3)  # fmt: skip
    opts = DetectorOptions.parse(input_size="64x48", score_thr=0.9, max_persons=1)
    over = load_detector(str(folder / "end2end.onnx"), "CPU", options=opts)
    assert over.input_size == (64, 48) and over.spec.channel_order == "RGB"  # the rest kept
    assert (over.rules.score_thr, over.rules.nms_iou, over.rules.max_persons) == (0.9, 0.55, 1)


def test_dynamic_graph_without_sdk_files_is_refused_with_the_fix(tmp_path: Path) -> None:
    graph = dynamic_graph(tmp_path / "bare" / "end2end.onnx")
    with pytest.raises(DetectorLoadError) as err:
        load_detector(str(graph.parent), "CPU")
    message = str(err.value)
    assert "dynamic input size" in message and str(graph) in message
    assert "--detector-input-size" in message and "pipeline.json" in message
    opts = DetectorOptions.parse("64x64", "0,0,0", "1,1,1", "BGR")
    found = load_detector(str(graph), "CPU", options=opts).detect(BRIGHT)
    np.testing.assert_allclose(found.boxes[0], [20, 40, 80, 120 - 40], atol=1e-3)  # y clipped


def test_detector_options_refuse_nonsense() -> None:
    for kwargs, match in (
        ({"input_size": "320"}, "WIDTHxHEIGHT"),
        ({"input_size": "0x320"}, "out of range"),
        ({"input_size": "99999x1"}, "out of range"),
        ({"mean": "1,2"}, "three"),
        ({"mean": "nan,1,2"}, "finite"),
        ({"std": "1,0,1"}, "positive"),
        ({"channel_order": "BRG"}, "channel order"),
        ({"score_thr": 1.5}, "score_thr"),
        ({"max_persons": 0}, "max_persons"),
    ):
        with pytest.raises(ValueError, match=match):
            DetectorOptions.parse(**kwargs)


def _mutate(path: list, value) -> dict:
    data = copy.deepcopy(PIPELINE)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


TRANSFORMS = ["pipeline", "tasks", 0, "transforms"]
POST = ["pipeline", "tasks", 2, "params"]


@pytest.mark.parametrize(
    "pipeline, match",
    [
        (_mutate([*TRANSFORMS, 1, "size"], [10**12, 10**12]), "out of range"),
        (_mutate([*TRANSFORMS, 1, "size"], [320, 320, 3]), r"\[height, width\]"),
        (_mutate([*TRANSFORMS, 1, "size"], ["320", 320]), "must be a number"),
        (_mutate([*TRANSFORMS, 1, "size"], [True, 320]), "must be a number"),
        (_mutate([*TRANSFORMS, 1, "keep_ratio"], "yes"), "keep_ratio"),
        (_mutate([*TRANSFORMS, 3, "std"], [1.0, 0.0, 1.0]), "out of range"),
        (_mutate([*TRANSFORMS, 3, "mean"], [1.0, 2.0]), "three numbers"),
        (_mutate([*TRANSFORMS, 2, "pad_val"], {"img": [1, 2, 3]}), "one value"),
        (_mutate([*TRANSFORMS, 2, "pad_val"], 300), "out of range"),
        (_mutate([*TRANSFORMS, 4], {"type": "RandomFlip"}), "'RandomFlip' is not one"),
        (_mutate([*TRANSFORMS, 4], {"type": "LetterResize", "scale": [640, 640]}), "LetterResize"),
        (_mutate([*TRANSFORMS, 4], "Resize"), "not one simplepose can apply"),
        (_mutate(TRANSFORMS, {"type": "Resize"}), "'transforms' list"),
        (_mutate([*POST, "score_thr"], 2.0), "score_thr"),
        (_mutate([*POST, "nms"], {"iou_threshold": -1}), "iou_threshold"),
        (_mutate([*POST, "max_per_img"], "many"), "max_per_img"),
        (_mutate(["pipeline", "tasks"], {"0": 1}), "tasks"),
        ([1, 2, 3], "expected a JSON object"),
    ],
)
def test_hostile_pipeline_json_is_refused_naming_the_file(tmp_path: Path, pipeline, match):
    folder = sdk_folder(tmp_path / "sdk", pipeline)
    with pytest.raises(SdkFileError, match=match) as err:
        read_sdk_folder(folder)
    assert str(folder / "pipeline.json") in str(err.value)


def test_hostile_json_bytes_are_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.json"
    nan = json.dumps(PIPELINE).replace('"score_thr": 0.2', '"score_thr": NaN')
    for text, match in (
        (nan, "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply|deeper than"),
        ('{"a":' * 40 + "1" + "}" * 40, "deeper than"),
        ("{" + " " * (MAX_SDK_JSON_BYTES + 1) + "}", "over the"),
        ("\xff\xfe not json", "not valid JSON"),
        ('{"pipeline": {"tasks": [' + '{"module": "Transform"}' + "]}", "not valid JSON"),
    ):
        path.write_text(text, errors="surrogateescape")
        with pytest.raises(SdkFileError, match=match) as err:
            read_sdk_folder(tmp_path)
        assert str(path) in str(err.value)
    sdk_folder(tmp_path, PIPELINE, {"models": [{"net": "../../etc/passwd.onnx"}]}, None)
    with pytest.raises(SdkFileError, match="file name in this folder"):
        read_sdk_folder(tmp_path)
    no_size = _mutate(TRANSFORMS, [{"type": "LoadImageFromFile"}, {"type": "Resize"}])
    sdk_folder(tmp_path, no_size, DEPLOY, None)
    assert read_sdk_folder(tmp_path).spec.input_size is None  # a dynamic export says no size
    (tmp_path / "detail.json").write_text('{"onnx_config": {"input_shape": [1e400, 2]}}')
    with pytest.raises(SdkFileError, match="must be a number") as err:
        read_sdk_folder(tmp_path)
    assert "detail.json" in str(err.value)


# --- Megvii YOLOX raw exports ------------------------------------------------------------


def yolox_raw(input_size=(64, 64), classes: int = 2) -> np.ndarray:
    """Raw head output with three boxes: a person at stride 8, the same person again at stride
    16 (lower score: NMS removes it), and a box of class 1 (not a person)."""
    raw = np.zeros((anchor_count(input_size), 5 + classes), np.float32)
    w8 = input_size[0] // 8
    person = 3 * w8 + 2  # stride 8, cell x=2, y=3: centre (20, 28)
    raw[person, :4] = [0.5, 0.5, math.log(2), math.log(4)]  # 16 x 32 px
    raw[person, 4:7] = [0.9, 0.9, 0.1]
    n8, w16 = (input_size[0] // 8) * (input_size[1] // 8), input_size[0] // 16
    again = n8 + 1 * w16 + 1  # stride 16, cell (1, 1): centre (20, 28) again
    raw[again, :4] = [0.25, 0.75, 0.0, math.log(2)]
    raw[again, 4:7] = [0.7, 0.9, 0.1]
    other = n8 + (input_size[0] // 16) * (input_size[1] // 16)  # stride 32, cell (0, 0)
    raw[other, :4] = [0.5, 0.5, math.log(0.5), math.log(0.5)]
    raw[other, 4:7] = [0.95, 0.05, 0.95]
    return raw


def test_yolox_raw_export_is_recognised_decoded_and_mapped_back(tmp_path: Path) -> None:
    graph = build_yolox_raw_graph(tmp_path / "yolox_s.onnx", yolox_raw())
    det = load_detector(str(graph), "CPU")
    assert isinstance(det, OnnxEnd2EndDetector) and det.yolox is not None
    image = np.full((96, 128, 3), 90, np.uint8)  # letterbox ratio 0.5, 16 rows of padding
    found = det.detect(image)
    assert len(found) == 1  # the duplicate went to NMS, the class-1 box is not a person
    np.testing.assert_allclose(found.boxes[0], [24, 24, 32, 64], atol=1e-4)
    assert found.scores[0] == pytest.approx(0.81, abs=1e-5)
    x, _ = det.prepare(image)
    assert x.max() == 114 and x.min() == 90  # raw BGR 0-255, pad 114
    batch = det.detect_batch([image, image[:64]])
    assert [len(d) for d in batch] == [1, 1]
    lower = load_detector(str(graph), "CPU", options=DetectorOptions(score_thr=0.5, nms_iou=1.0))
    assert len(lower.detect(image)) == 2  # both person boxes survive an NMS of IoU 1


def test_yolox_raw_with_the_wrong_anchor_count_is_refused(tmp_path: Path) -> None:
    graph = build_yolox_raw_graph(tmp_path / "y.onnx", yolox_raw((64, 64)))
    with pytest.raises(DetectorLoadError, match="neither"):
        load_detector(str(graph), "CPU", options=DetectorOptions(input_size=(96, 96)))
    few = build_yolox_raw_graph(tmp_path / "few.onnx", np.zeros((84, 5), np.float32))
    with pytest.raises(DetectorLoadError, match="neither"):
        load_detector(str(few), "CPU")
