"""Megvii YOLOX raw ONNX exports: the grid outputs before decoding, no NMS in the graph.

The YOLOX repository's ``tools/export_onnx.py`` (default ``decode_in_inference=False``) and the
sample repositories built on it write one output ``(B, A, 5 + C)``: per anchor point of the
stride 8, 16 and 32 grids (row by row, finest grid first), ``x, y`` offsets in grid cells,
``log w, log h`` in grid cells, then the objectness and the C class scores (already through a
sigmoid). Decoding: ``xy = (out + grid) * stride``, ``wh = exp(out) * stride``; a box's person
score is ``objectness x class 0``. Inputs are YOLOX's letterbox (top-left, pad 114) of raw BGR
0-255 pixels, as the YOLOX demo feeds them.
"""

from __future__ import annotations

import numpy as np

STRIDES = (8, 16, 32)
MIN_CHANNELS = 6  # 4 box + objectness + at least one class
MAX_LOG_WH = 20.0  # exp() of more than this is no box (guards overflow on a hostile graph)


def anchor_count(input_size: tuple[int, int], strides: tuple[int, ...] = STRIDES) -> int:
    """Anchor points of a ``(width, height)`` input over ``strides``."""
    width, height = input_size
    return sum((height // s) * (width // s) for s in strides)


def is_yolox_raw(shape: list, input_size: tuple[int, int] | None) -> bool:
    """Whether an output of ``shape`` looks like YOLOX's raw ``(B, A, 5 + C)`` head output
    (A checked against ``input_size`` when both are known)."""
    if len(shape) != 3:
        return False
    channels, anchors = shape[2], shape[1]
    if not isinstance(channels, int) or channels < MIN_CHANNELS:
        return False
    if isinstance(anchors, int) and input_size is not None:
        return anchors == anchor_count(input_size)
    return True


def _grids(input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    width, height = input_size
    grids, strides = [], []
    for stride in STRIDES:
        h, w = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        grids.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        strides.append(np.full((h * w, 1), stride))
    return np.concatenate(grids).astype(np.float64), np.concatenate(strides).astype(np.float64)


class YoloxDecoder:
    """Decodes one image's raw output into person boxes in input pixels."""

    def __init__(self, input_size: tuple[int, int], person_class: int = 0):
        self.input_size = input_size
        self.grid, self.stride = _grids(input_size)
        self.person_class = person_class

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """``(A, 5 + C)`` -> ``(A, 5)`` x1, y1, x2, y2, person score (input pixels)."""
        raw = np.asarray(raw, np.float64)
        if raw.ndim != 2 or raw.shape[0] != len(self.grid) or raw.shape[1] < MIN_CHANNELS:
            raise ValueError(
                f"YOLOX output has shape {raw.shape}, expected ({len(self.grid)}, 5 + classes) "
                f"for a {self.input_size[0]}x{self.input_size[1]} input"
            )
        if self.person_class + 5 >= raw.shape[1]:
            raise ValueError(f"YOLOX output has no class {self.person_class}")
        centre = (raw[:, :2] + self.grid) * self.stride
        size = np.exp(np.clip(raw[:, 2:4], -MAX_LOG_WH, MAX_LOG_WH)) * self.stride
        score = raw[:, 4] * raw[:, 5 + self.person_class]
        return np.concatenate([centre - size / 2, centre + size / 2, score[:, None]], axis=1)
