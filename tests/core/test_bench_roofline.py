"""The roofline's model work and the peers' environment (bench/roofline.py, bench/_rounds.py):
the MACs are counted from an ONNX graph's shapes, the same as by hand, and a peer process gets
no oneDNN ISA cap and no simplepose settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

onnx = pytest.importorskip("onnx")


def conv_deconv_matmul_graph(path: Path) -> Path:
    """x (2, 3, 8, 6) -> Conv 3x3 stride 2 (16 ch) -> ConvTranspose 4x4/2 (8 ch, 2 groups)
    -> flatten -> MatMul to 5 outputs."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights: dict[str, np.ndarray] = {
        "w_conv": np.zeros((16, 3, 3, 3), np.float32),
        "w_deconv": np.zeros((16, 4, 4, 4), np.float32),  # (Cin, Cout/g, kh, kw), g = 2
        "w_fc": np.zeros((8 * 8 * 6, 5), np.float32),
        "shape": np.array([2, -1], np.int64),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w_conv"], ["c"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node(
            "ConvTranspose", ["c", "w_deconv"], ["d"], strides=[2, 2], pads=[1, 1, 1, 1], group=2
        ),  # fmt: skip
        helper.make_node("Reshape", ["d", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "w_fc"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_graph_macs_counts_conv_deconv_and_matmul_from_shapes(tmp_path: Path) -> None:
    from roofline import graph_macs

    macs = graph_macs(conv_deconv_matmul_graph(tmp_path / "g.onnx"))
    # Conv: output (2, 16, 4, 3), each output 3 x 3 x 3 MACs
    assert macs["Conv"] == 2 * 16 * 4 * 3 * (3 * 3 * 3)
    # ConvTranspose: each input element (2, 16, 4, 3) feeds Cout/g x 4 x 4 outputs
    assert macs["ConvTranspose"] == 2 * 16 * 4 * 3 * (4 * 4 * 4)
    # MatMul: (2, 384) x (384, 5)
    assert macs["MatMul"] == 2 * 5 * 384


def test_graph_macs_refuses_a_graph_without_shapes(tmp_path: Path) -> None:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    from roofline import graph_macs

    w = numpy_helper.from_array(np.zeros((4, 3, 1, 1), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w],
    )  # fmt: skip
    path = tmp_path / "dynamic.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(ValueError, match="unknown shape"):
        graph_macs(path)


def test_peer_environment_has_no_isa_cap_and_no_simplepose_settings(monkeypatch) -> None:
    from _rounds import clean_env

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("SIMPLEPOSE_BACKEND", "onnxruntime")
    env = clean_env()
    assert "ONEDNN_MAX_CPU_ISA" not in env and "SIMPLEPOSE_BACKEND" not in env
    assert env["PATH"] == os.environ["PATH"]
    assert clean_env({"ONEDNN_MAX_CPU_ISA": "ALL"})["ONEDNN_MAX_CPU_ISA"] == "ALL"
