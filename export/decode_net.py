"""Keypoint decoding inside the graph: argmax + the reference quarter-pixel refinement.

The same formula as ``simplepose.pose.codec.HeatmapCodec.decode(..., "quarter")`` (tested to agree),
written with MindSpore ops so an exported graph can return ``(N, K, 3)`` keypoints
``(x, y, score)`` in heatmap pixels instead of ``(N, K, H, W)`` heatmaps.
"""

from __future__ import annotations

import mindspore as ms
from mindspore import nn, ops

from simplepose.pose.codec import QUARTER_OFFSET


class QuarterDecode(nn.Cell):
    """Heatmaps ``(N, K, H, W)`` -> keypoints ``(N, K, 3)``: x, y (heatmap pixels), score.

    A joint whose maximum is <= 0 gets ``(0, 0, 0)``, as in the codec. The refinement moves the
    argmax a quarter pixel towards the higher neighbour when ``1 < x < W-1`` and ``1 < y < H-1``.
    """

    def __init__(self, heatmap_size: tuple[int, int]):
        super().__init__()
        self.width, self.height = int(heatmap_size[0]), int(heatmap_size[1])
        self.argmax = ops.ArgMaxWithValue(axis=-1)

    def _at(self, flat, xs, ys):
        idx = (ys * self.width + xs).astype(ms.int32)
        return ops.gather_elements(flat, 2, ops.expand_dims(idx, -1)).squeeze(-1)

    def _sign(self, v):
        # not ops.sign: the ONNX exporter lacks that op
        return (v > 0).astype(ms.float32) - (v < 0).astype(ms.float32)

    def construct(self, heatmaps):
        n, k = heatmaps.shape[0], heatmaps.shape[1]
        flat = heatmaps.reshape(n, k, self.height * self.width)
        idx, maxval = self.argmax(flat)
        idx = idx.astype(ms.int32)
        py = idx // self.width
        px = idx - py * self.width  # not `%`: the ONNX exporter lacks that op
        cx = ops.clip_by_value(px, 1, self.width - 2)
        cy = ops.clip_by_value(py, 1, self.height - 2)
        dx = self._at(flat, cx + 1, cy) - self._at(flat, cx - 1, cy)
        dy = self._at(flat, cx, cy + 1) - self._at(flat, cx, cy - 1)
        inside = ops.logical_and(
            ops.logical_and(px > 1, px < self.width - 1),
            ops.logical_and(py > 1, py < self.height - 1),
        ).astype(ms.float32)
        x = px.astype(ms.float32) + QUARTER_OFFSET * self._sign(dx) * inside
        y = py.astype(ms.float32) + QUARTER_OFFSET * self._sign(dy) * inside
        found = (maxval > 0).astype(ms.float32)
        return ops.stack((x * found, y * found, maxval * found), axis=-1)


class HeatmapsToKeypoints(nn.Cell):
    """``net`` followed by ``QuarterDecode``: crops in, keypoints out."""

    def __init__(self, net: nn.Cell, heatmap_size: tuple[int, int]):
        super().__init__(auto_prefix=False)
        self.net = net
        self.decode = QuarterDecode(heatmap_size)

    def construct(self, x):
        return self.decode(self.net(x))
