"""Transposed convolutions re-expressed as ordinary convolutions, so INT8 runs them in int8.

ONNX Runtime's CPU provider has no int8 ConvTranspose kernel: in a QDQ graph a ConvTranspose
stays float between a DequantizeLinear and a QuantizeLinear, and the deconv head (about a quarter
of SimpleBaselines' MACs) ends up slower than in the FP32 graph. A ConvTranspose whose kernel is
a multiple of its stride and whose output is exactly ``stride`` times its input (SimpleBaselines'
4x4 / stride 2 / pad 1) is the same as ``stride**2`` small convolutions, one per output phase
(sub-pixel convolution), interleaved: per axis, output ``o = s*m + r`` only sees kernel taps
``k = s*t + (r + pad) % s``. Each phase becomes a plain Conv (kernel ``K/s``, its own asymmetric
padding, the same bias), the phases are concatenated on the channel axis and interleaved by
DepthToSpace. ONNX Runtime runs Conv, Concat and DepthToSpace in uint8, so the whole head
quantizes (DepthToSpace's input and output ranges are the same values, so the QDQ pair around it
has one scale and is dropped). Same MACs as the ConvTranspose; a ReLU that follows is applied per
phase (it commutes with the interleave) so the quantizer fuses it into each Conv.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simplepose.export.onnx_graph import import_onnx


def _attr(node, name: str, default: Any) -> Any:
    helper = import_onnx("onnx.helper")
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _phase_taps(kernel: int, stride: int, pad: int) -> list[tuple[list[int], int, int]] | None:
    """Per output phase ``r`` along one axis: the kernel taps in correlation order and the
    (begin, end) padding of the equivalent Conv; ``None`` if the axis does not decompose."""
    if kernel % stride or kernel - 2 * pad != stride:
        return None
    taps = kernel // stride
    phases = []
    for r in range(stride):
        q = r + pad
        before = taps - 1 - q // stride
        if before < 0:
            return None
        phases.append(([stride * (taps - 1 - j) + q % stride for j in range(taps)], before,
                       taps - 1 - before))  # fmt: skip
    return phases


def _rewritable(node, weights: dict[str, np.ndarray]) -> list | None:
    """Per-axis phase taps of ``node`` if it is a ConvTranspose this module can rewrite."""
    if node.op_type != "ConvTranspose" or node.input[1] not in weights:
        return None
    w = weights[node.input[1]]
    spatial = w.ndim - 2
    kernel = list(_attr(node, "kernel_shape", w.shape[2:]))
    strides = list(_attr(node, "strides", [1] * spatial))
    pads = list(_attr(node, "pads", [0] * 2 * spatial))
    plain = (
        _attr(node, "group", 1) == 1
        and list(_attr(node, "dilations", [1] * spatial)) == [1] * spatial
        and not any(_attr(node, "output_padding", []))
        and not _attr(node, "output_shape", [])
        and _attr(node, "auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
        and spatial == 2
        and len(set(strides)) == 1  # DepthToSpace interleaves both axes by one block size
        and pads[:spatial] == pads[spatial:]
        and list(w.shape[2:]) == kernel
    )
    if not plain:
        return None
    axes = [_phase_taps(k, s, p) for k, s, p in zip(kernel, strides, pads[:spatial], strict=True)]
    return None if any(a is None for a in axes) else axes


def _phase_nodes(node, w: np.ndarray, axes: list, relu, graph) -> list:
    """The Conv [-> Relu] per output phase, their Concat and the DepthToSpace interleave that
    replace ``node`` (and ``relu``, its only consumer, if given); phase weights are added to
    ``graph``'s initializers."""
    helper = import_onnx("onnx.helper")
    numpy_helper = import_onnx("onnx.numpy_helper")
    name = node.name or node.output[0]
    nodes, phases = [], []
    for rh, (taps_h, top, bottom) in enumerate(axes[0]):
        for rw, (taps_w, left, right) in enumerate(axes[1]):
            tag = f"{name}/phase{rh}{rw}"
            kernel = np.ascontiguousarray(w[:, :, taps_h][:, :, :, taps_w].transpose(1, 0, 2, 3))
            graph.initializer.append(numpy_helper.from_array(kernel, f"{tag}/weight"))
            phase = f"{tag}/conv"
            nodes.append(helper.make_node(
                "Conv", [node.input[0], f"{tag}/weight", *node.input[2:3]], [phase],
                name=f"{tag}/Conv", kernel_shape=list(kernel.shape[2:]),
                pads=[top, left, bottom, right],
            ))  # fmt: skip
            if relu is not None:
                nodes.append(helper.make_node("Relu", [phase], [f"{tag}/relu"], name=f"{tag}/Relu"))
                phase = f"{tag}/relu"
            phases.append(phase)
    out = (relu or node).output[0]
    return [
        *nodes,
        helper.make_node("Concat", phases, [f"{name}/phases"], name=f"{name}/Concat", axis=1),
        helper.make_node("DepthToSpace", [f"{name}/phases"], [out], name=f"{name}/DepthToSpace",
                         blocksize=len(axes[0]), mode="DCR"),
    ]  # fmt: skip


def convtranspose_as_convs(model) -> int:
    """Rewrite, in place, every 2-D ConvTranspose of ``model`` that decomposes into phase
    Convs (see the module docstring); return how many were rewritten."""
    onnx = import_onnx("onnx")
    numpy_helper = import_onnx("onnx.numpy_helper")
    graph = model.graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in graph.output}
    nodes, dropped, rewritten = [], set(), 0
    for node in graph.node:
        axes = _rewritable(node, weights)
        if axes is None:
            if id(node) not in dropped:
                nodes.append(node)
            continue
        after = consumers.get(node.output[0], [])
        relu = after[0] if len(after) == 1 and after[0].op_type == "Relu" else None
        if relu is not None and node.output[0] not in outputs:
            dropped.add(id(relu))  # applied per phase instead
        else:
            relu = None
        nodes += _phase_nodes(node, weights[node.input[1]], axes, relu, graph)
        rewritten += 1
    if rewritten:
        used = {i for n in nodes for i in n.input}
        made = {o for n in nodes for o in n.output}
        keep = [i for i in graph.initializer if i.name in used]
        shapes = [v for v in graph.value_info if v.name in made]
        del graph.initializer[:], graph.node[:], graph.value_info[:]
        graph.initializer.extend(keep)
        graph.node.extend(nodes)
        graph.value_info.extend(shapes)
        onnx.checker.check_model(model)
    return rewritten
