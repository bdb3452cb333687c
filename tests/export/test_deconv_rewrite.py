"""ConvTranspose -> phase Convs + DepthToSpace (what lets INT8 run the deconv head in int8):
the rewritten graph computes the same as the original, and what does not decompose is left
alone."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from simplepose.export.deconv_rewrite import convtranspose_as_convs  # noqa: E402

CIN, COUT, H, W = 6, 4, 7, 5


def _deconv_model(
    kernel: int, pad: int, relu: bool, bias: bool = True, group: int = 1, stride: int = 2
):
    """x -> ConvTranspose [-> Relu] -> y, random weights (not symmetric: a tap mix-up shows)."""
    rng = np.random.default_rng(kernel * 10 + pad)
    w = rng.standard_normal((CIN, COUT // group, kernel, kernel))
    inits = [numpy_helper.from_array(w.astype(np.float32), "w")]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(COUT).astype(np.float32), "b"))
        inputs.append("b")
    mid = "d" if relu else "y"

    def out(size: int) -> int:
        return (size - 1) * stride - 2 * pad + kernel

    nodes = [
        helper.make_node(
            "ConvTranspose", inputs, [mid], name="deconv", kernel_shape=[kernel, kernel],
            strides=[stride, stride], pads=[pad] * 4, group=group,
        )
    ]  # fmt: skip
    if relu:
        nodes.append(helper.make_node("Relu", ["d"], ["y"], name="relu"))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, CIN, H, W])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, COUT, out(H), out(W)])], inits,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _run(model, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_the_4x4_stride2_deconv_becomes_four_convs_with_the_same_output(relu, bias):
    _check_rewrite(kernel=4, pad=1, stride=2, relu=relu, bias=bias)


@pytest.mark.parametrize("kernel,pad,stride", [(3, 1, 1), (6, 2, 2), (9, 3, 3)])
def test_other_exact_upsampling_deconvs_decompose_too(kernel, pad, stride):
    _check_rewrite(kernel, pad, stride, relu=False, bias=True)


def _check_rewrite(kernel: int, pad: int, stride: int, relu: bool, bias: bool) -> None:
    model = _deconv_model(kernel, pad, relu=relu, bias=bias, stride=stride)
    x = np.random.default_rng(1).standard_normal((2, CIN, H, W)).astype(np.float32)
    expected = _run(model, x)
    assert expected.shape == (2, COUT, stride * H, stride * W)
    assert convtranspose_as_convs(model) == 1
    ops = [n.op_type for n in model.graph.node]
    phases = stride * stride
    assert "ConvTranspose" not in ops and ops.count("Conv") == phases
    assert ops.count("Relu") == (phases if relu else 0)  # the ReLU moved onto each phase
    assert ops[-2:] == ["Concat", "DepthToSpace"]
    np.testing.assert_allclose(_run(model, x), expected, rtol=0, atol=1e-5)
    if relu:
        assert (expected == 0).any() and (expected > 0).any()  # the ReLU did something


@pytest.mark.parametrize(
    "kernel,pad,group,stride",
    [(3, 1, 1, 2), (2, 1, 1, 2), (4, 0, 1, 2), (4, 1, 2, 2), (5, 1, 1, 2)],
    ids=["kernel3", "kernel2", "pad0", "grouped", "kernel5"],
)
def test_deconvs_that_do_not_decompose_are_left_alone(kernel, pad, group, stride):
    model = _deconv_model(kernel, pad, relu=True, group=group, stride=stride)
    x = np.random.default_rng(2).standard_normal((2, CIN, H, W)).astype(np.float32)
    before = model.SerializeToString()
    assert convtranspose_as_convs(model) == 0
    assert model.SerializeToString() == before
    assert _run(model, x).shape[0] == 2
