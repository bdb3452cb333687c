"""The preprocessing of an mmdeploy SDK folder: ``pipeline.json``, ``deploy.json``, ``detail.json``.

``tools/deploy.py --dump-info`` writes them beside ``end2end.onnx`` (mmdeploy's
``backend/sdk/export_info.py``): ``pipeline.json`` holds the test pipeline as
``{"pipeline": {"tasks": [{"module": "Transform", "transforms": [...]}, {"module": "Net"},
{"module": "mmdet", "params": {"score_thr", "nms": {"iou_threshold"}, "max_per_img"}}]}}``;
``deploy.json`` names the graph (``models[0].net``); ``detail.json`` has the export settings
(``onnx_config.input_shape`` = [width, height] of a static export).

Read as hostile input: size-capped files, nesting depth, types, ranges and NaN are checked, and
every error names the file. Transforms other than the ones understood here are refused, so a
pipeline we would feed wrongly never runs silently.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from simplepose.detection.box_ops import BoxFilter
from simplepose.detection.onnx_end2end import DetectorLoadError
from simplepose.detection.spec import MAX_GRAPH_SIDE, End2EndSpec

PIPELINE_JSON, DEPLOY_JSON, DETAIL_JSON = "pipeline.json", "deploy.json", "detail.json"
MAX_SDK_JSON_BYTES = 1 << 20  # the real files are a few kB
MAX_DEPTH = 16  # the real files nest 6 levels
MAX_PERSONS_CAP = 1000
# Transforms that carry no preprocessing of their own (loading, tensor layout, metadata).
PASSIVE_TRANSFORMS = frozenset(
    {"LoadImageFromFile", "DefaultFormatBundle", "ImageToTensor", "Collect", "PackDetInputs"}
)
UNDERSTOOD_TRANSFORMS = PASSIVE_TRANSFORMS | {"Resize", "Pad", "Normalize"}


class SdkFileError(DetectorLoadError):
    """An mmdeploy SDK JSON file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class SdkFolder:
    """What the SDK files of one folder say: the spec (``input_size`` may be ``None`` when
    they give none) and the graph file ``deploy.json`` names (``None``: not given)."""

    spec: End2EndSpec
    graph_name: str | None = None


def _fail(path: Path, message: str) -> NoReturn:
    raise SdkFileError(f"{path}: {message}")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, stopping at ``limit`` + 1 (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_sdk_json(path: Path) -> dict[str, Any]:
    """One SDK file as a dict: at most ``MAX_SDK_JSON_BYTES``, no NaN/Infinity, bounded depth."""
    size = path.stat().st_size
    if size > MAX_SDK_JSON_BYTES:
        _fail(path, f"{size} bytes, over the {MAX_SDK_JSON_BYTES} an mmdeploy SDK file can be")
    try:
        data = json.loads(path.read_bytes(), parse_constant=_reject_constant)
    except RecursionError:
        _fail(path, "not usable JSON: nested too deeply")
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(path, f"not valid JSON: {str(exc)[:200]}")
    if not isinstance(data, dict):
        _fail(path, "expected a JSON object")
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        _fail(path, f"nested deeper than {MAX_DEPTH} levels; not an mmdeploy SDK file")
    return data


def _number(path: Path, value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _fail(path, f"{what} must be a number, got {str(value)[:80]!r}")
    if not low <= value <= high:
        _fail(path, f"{what} = {value} is out of range {low}..{high}")
    return float(value)


def _size(path: Path, value: Any, what: str) -> tuple[int, int]:
    """mmdeploy's ``size`` [height, width] (or one int) -> (width, height)."""
    items = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, list) or len(items) != 2:
        _fail(path, f"{what} must be [height, width], got {str(value)[:80]!r}")
    h, w = (int(_number(path, v, what, 1, MAX_GRAPH_SIDE)) for v in items)
    return w, h


def _triple(path: Path, value: Any, what: str, low: float) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != 3:
        _fail(path, f"{what} must be three numbers, got {str(value)[:80]!r}")
    return tuple(_number(path, v, what, low, 1e4) for v in value)


def _pad_value(path: Path, value: Any) -> int:
    if isinstance(value, dict):
        value = value.get("img", 0)
    values = value if isinstance(value, list) else [value]
    if not values or len({str(v) for v in values}) != 1:
        _fail(path, f"Pad pad_val must be one value for every channel, got {str(value)[:80]!r}")
    return int(_number(path, values[0], "Pad pad_val", 0, 255))


def _transforms(path: Path, tasks: list[Any]) -> list[dict[str, Any]]:
    prep = [t for t in tasks if isinstance(t, dict) and t.get("module") == "Transform"]
    if len(prep) != 1 or not isinstance(prep[0].get("transforms"), list):
        _fail(path, "expected one task with module 'Transform' and a 'transforms' list")
    transforms = prep[0]["transforms"]
    for t in transforms:
        kind = t.get("type") if isinstance(t, dict) else None
        if kind not in UNDERSTOOD_TRANSFORMS:
            _fail(
                path,
                f"transform {str(kind)[:60]!r} is not one simplepose can apply (understood: "
                f"{', '.join(sorted(UNDERSTOOD_TRANSFORMS))}); give the preprocessing with "
                "--detector-input-size/--detector-mean/--detector-std instead",
            )
    return transforms


def _preprocess(path: Path, transforms: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for t in transforms:
        if t["type"] == "Resize":
            if "size" in t:
                spec["input_size"] = _size(path, t["size"], "Resize size")
            keep = t.get("keep_ratio", True)
            if not isinstance(keep, bool):
                _fail(path, f"Resize keep_ratio must be true or false, got {str(keep)[:40]!r}")
            spec["keep_ratio"] = keep
        elif t["type"] == "Pad":
            if "size" in t:
                spec["input_size"] = _size(path, t["size"], "Pad size")
            if "pad_val" in t:
                spec["pad_value"] = _pad_value(path, t["pad_val"])
        elif t["type"] == "Normalize":
            spec["mean"] = _triple(path, t.get("mean"), "Normalize mean", -1e4)
            spec["std"] = _triple(path, t.get("std"), "Normalize std", 1e-6)
            to_rgb = t.get("to_rgb", False)
            if not isinstance(to_rgb, bool):
                _fail(path, f"Normalize to_rgb must be true or false, got {str(to_rgb)[:40]!r}")
            spec["channel_order"] = "RGB" if to_rgb else "BGR"
    return spec


def _rules(path: Path, tasks: list[Any]) -> BoxFilter | None:
    post = [t for t in tasks if isinstance(t, dict) and t.get("name") == "postprocess"]
    if not post:
        return None
    params = post[0].get("params", post[0])  # mmdeploy 1.x: params; 0.x: on the task
    if not isinstance(params, dict):
        _fail(path, "postprocess params must be an object")
    rules: dict[str, Any] = {}
    if "score_thr" in params:
        rules["score_thr"] = _number(path, params["score_thr"], "score_thr", 0, 1)
    nms = params.get("nms")
    if isinstance(nms, dict) and "iou_threshold" in nms:
        rules["nms_iou"] = _number(path, nms["iou_threshold"], "nms iou_threshold", 1e-6, 1)
    if "max_per_img" in params:
        most = _number(path, params["max_per_img"], "max_per_img", 1, 1e9)
        rules["max_persons"] = min(int(most), MAX_PERSONS_CAP)
        rules["pre_nms_top_k"] = max(rules["max_persons"], BoxFilter.pre_nms_top_k)
    return BoxFilter(**rules) if rules else None


def _graph_name(path: Path) -> str | None:
    deploy = load_sdk_json(path)
    models = deploy.get("models")
    if not isinstance(models, list) or not models or not isinstance(models[0], dict):
        _fail(path, "expected 'models': [{'net': 'end2end.onnx', ...}]")
    net = models[0].get("net")
    if not isinstance(net, str) or Path(net).name != net or not net.endswith(".onnx"):
        _fail(
            path, f"models[0].net must be an .onnx file name in this folder, got {str(net)[:80]!r}"
        )
    return net


def _static_size(path: Path) -> tuple[int, int] | None:
    detail = load_sdk_json(path)
    onnx_config = detail.get("onnx_config", {})
    shape = onnx_config.get("input_shape") if isinstance(onnx_config, dict) else None
    if shape is None:
        return None
    if not isinstance(shape, list) or len(shape) != 2:
        _fail(path, f"onnx_config.input_shape must be [width, height], got {str(shape)[:80]!r}")
    w, h = (int(_number(path, v, "onnx_config.input_shape", 1, MAX_GRAPH_SIDE)) for v in shape)
    return w, h


def read_sdk_folder(folder: Path) -> SdkFolder | None:
    """The SDK files of ``folder``, or ``None`` when it has no ``pipeline.json``."""
    pipeline_path = folder / PIPELINE_JSON
    if not pipeline_path.is_file():
        return None
    data = load_sdk_json(pipeline_path)
    pipeline = data.get("pipeline")
    tasks = pipeline.get("tasks") if isinstance(pipeline, dict) else None
    if not isinstance(tasks, list):
        _fail(pipeline_path, "expected {'pipeline': {'tasks': [...]}} as mmdeploy writes it")
    fields = _preprocess(pipeline_path, _transforms(pipeline_path, tasks))
    if "input_size" not in fields and (folder / DETAIL_JSON).is_file():
        size = _static_size(folder / DETAIL_JSON)
        if size is not None:
            fields["input_size"] = size
    try:
        spec = End2EndSpec(rules=_rules(pipeline_path, tasks), **fields)
    except ValueError as exc:
        _fail(pipeline_path, str(exc))
    graph = _graph_name(folder / DEPLOY_JSON) if (folder / DEPLOY_JSON).is_file() else None
    return SdkFolder(spec, graph)
