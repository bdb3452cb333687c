"""The MindSpore cell that gets exported: the pose network with an exportable stem max pool,
the flip test fused, and optionally the decode fused."""

from __future__ import annotations

from simplepose.config.presets import Config


def _padded_maxpool(pool):
    """An equivalent of a ``pad_mode="pad"`` ``nn.MaxPool2d`` over non-negative inputs that
    MindSpore can export.

    MindSpore implements the padded max pool with ``MaxPool3DWithArgmax``: a MindIR exported
    with a dynamic batch then fails to load ("Get infer shape function failed, primitive name:
    raise") and the ONNX exporter does not know the op (nor ``PadV3``). Concatenating zero
    borders and pooling without padding gives identical values with plain ops when the input is
    >= 0: every 3x3 window holds at least one real value, so a zero border never wins over it.
    ``PoseResNet`` pools the output of a ReLU. Zero (not the lowest float32) also keeps the
    border inside the range INT8 calibration sees, so the stem quantizes like the rest.
    """
    from mindspore import nn, ops

    kernel, stride, pad = pool.kernel_size, pool.stride, pool.padding[-1]
    if not (isinstance(kernel, int) and isinstance(stride, int)) or set(pool.padding[1:]) != {pad}:
        raise ValueError(f"cannot rewrite max pool {pool} for export: non-square parameters")

    class PaddedMaxPool(nn.Cell):
        def __init__(self):
            super().__init__()
            self.pool = ops.MaxPool(kernel_size=kernel, strides=stride, pad_mode="valid")

        def construct(self, x):
            rows = x[:, :, :pad, :] * 0.0
            x = ops.concat((rows, x, rows), axis=2)
            cols = x[:, :, :, :pad] * 0.0
            x = ops.concat((cols, x, cols), axis=3)
            return self.pool(x)

    return PaddedMaxPool()


def build_export_graph(net, config: Config, flip: bool = True, fuse_decode: bool = False):
    """The cell that gets exported: ``net`` [+ fused flip] [+ fused quarter decode], eval mode.

    ``net`` (a ``PoseResNet``) has its padded stem max pool swapped for an exportable
    equivalent (see ``_padded_maxpool``); the export tests check the result equals the eager
    ``FlipTestNet``.
    """
    from simplepose.network.pose_net import FlipTestNet

    if getattr(net.maxpool, "use_pad", False):
        net.maxpool = _padded_maxpool(net.maxpool)
    graph = FlipTestNet(net, config.keypoints.flip_index()) if flip else net
    if fuse_decode:
        from simplepose.export.decode_net import HeatmapsToKeypoints

        graph = HeatmapsToKeypoints(graph, config.model.heatmap_size)
    graph.set_train(False)
    return graph
