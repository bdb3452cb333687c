"""A small stand-in for an mmdeploy ``end2end.onnx`` person detector, built with onnx.helper.

Same interface as the real graphs: input ``input`` ``(B, 3, H, W)`` float32, outputs ``dets``
``(B, N, 5)`` (x1, y1, x2, y2, score in input pixels) and ``labels`` ``(B, N)`` int64. Its
"weights" are hand-set: it always proposes the same boxes, each scored by the mean input pixel
(over 255) times a per-box factor, so a black image has no detection above any threshold and a
bright one has all of them. Labels other than 0 are non-person classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build_end2end_graph(
    path: Path,
    boxes_xyxy: np.ndarray,
    factors: np.ndarray,
    labels: np.ndarray,
    input_size: tuple[int, int] | None = (64, 64),
    batch: int | None = None,
) -> Path:
    """Write the graph to ``path``; ``batch`` None makes the batch dimension dynamic,
    ``input_size`` None the height and width (as mmdeploy's dynamic exports are)."""
    from onnx import TensorProto, helper, numpy_helper

    n = len(boxes_xyxy)
    width, height = input_size or ("width", "height")
    consts = {
        "shape": np.array([-1, 1, 1], np.int64),
        "factors": (np.asarray(factors, np.float32) / 255.0).reshape(1, n, 1),
        "zeros4": np.zeros((1, n, 4), np.float32),
        "boxes": np.asarray(boxes_xyxy, np.float32).reshape(1, n, 4),
        "shape2": np.array([-1, 1], np.int64),
        "zerosn": np.zeros((1, n), np.float32),
        "labelconst": np.asarray(labels, np.float32).reshape(1, n),
    }
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean4"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["mean4", "shape"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "factors"], ["scores"]),
        helper.make_node("Mul", ["mean3", "zeros4"], ["batch4"]),
        helper.make_node("Add", ["batch4", "boxes"], ["xyxy"]),
        helper.make_node("Concat", ["xyxy", "scores"], ["dets"], axis=2),
        helper.make_node("Reshape", ["mean4", "shape2"], ["mean2"]),
        helper.make_node("Mul", ["mean2", "zerosn"], ["batchn"]),
        helper.make_node("Add", ["batchn", "labelconst"], ["labelf"]),
        helper.make_node("Cast", ["labelf"], ["labels"], to=TensorProto.INT64),
    ]
    b = batch if batch is not None else "batch"
    graph = helper.make_graph(
        nodes,
        "end2end_standin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [b, 3, height, width])],
        [
            helper.make_tensor_value_info("dets", TensorProto.FLOAT, [b, n, 5]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [b, n]),
        ],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    return save_graph(graph, path)


def save_graph(graph, path: Path) -> Path:
    """An ``onnx.helper`` graph as a checked opset-13 model at ``path``."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def graph_finding(
    path: Path,
    boxes_xywh: np.ndarray,
    image_size: tuple[int, int],
    input_size: tuple[int, int] = (64, 64),
    batch: int | None = None,
) -> Path:
    """A stand-in detector that "finds" ``boxes_xywh`` (image pixels) in a bright image of
    ``image_size`` (w, h): the boxes go into the graph in letterboxed input pixels."""
    boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
    ratio = min(input_size[0] / image_size[0], input_size[1] / image_size[1])
    xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1) * ratio
    factors = np.linspace(1.0, 0.8, len(boxes)) * 255.0 / 114.0  # bright image: scores > 0.8
    return build_end2end_graph(
        path, xyxy, factors, np.zeros(len(boxes)), input_size=input_size, batch=batch
    )


def build_yolox_raw_graph(
    path: Path, raw: np.ndarray, input_size: tuple[int, int] = (64, 64), batch: int | None = None
) -> Path:
    """A stand-in Megvii YOLOX raw export: one output ``output`` ``(B, A, 5 + C)`` that is
    ``raw`` (``(A, 5 + C)``: x, y, log w, log h in grid cells, objectness, class scores) for
    every image; the input only sets the batch size."""
    from onnx import TensorProto, helper, numpy_helper

    raw = np.asarray(raw, np.float32)[None]
    width, height = input_size
    consts = {"shape": np.array([-1, 1, 1], np.int64), "zeros": np.zeros_like(raw), "raw": raw}
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean4"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["mean4", "shape"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "zeros"], ["batched"]),
        helper.make_node("Add", ["batched", "raw"], ["output"]),
    ]
    b = batch if batch is not None else "batch"
    graph = helper.make_graph(
        nodes,
        "yolox_raw_standin",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [b, 3, height, width])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [b, *raw.shape[1:]])],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    return save_graph(graph, path)
