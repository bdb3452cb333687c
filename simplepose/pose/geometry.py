"""Person-box geometry: box -> (center, scale), affine crop transforms and back-projection.

NumPy/OpenCV only. Conventions (SimpleBaselines reference):

* A box is ``(x, y, w, h)`` in image pixels.
* ``scale`` is the box size ``(w, h)`` in units of ``PIXEL_STD`` pixels, after fixing the
  aspect ratio to the network input and padding (``DataConfig.box_padding``).
* The crop transform maps the square-pixel region ``scale * PIXEL_STD`` around ``center``,
  rotated by ``rotation`` degrees, onto an output of size ``(W, H)``. Only ``scale[0]`` sets the
  zoom; ``scale[1]`` follows from the aspect ratio.

All functions are vectorised over N persons.
"""

from __future__ import annotations

import cv2
import numpy as np

PIXEL_STD = 200.0  # scale unit of the reference code: scale = size / PIXEL_STD
MIN_BOX_SIZE = 1.0  # boxes narrower or lower than this (px, after clipping) are rejected


class BoxError(ValueError):
    """A person box that cannot be used; ``index`` says which one."""

    def __init__(self, index: int, reason: str):
        super().__init__(f"box {index}: {reason}")
        self.index = index
        self.reason = reason


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip ``(N, 4)`` xywh boxes to the image; raise ``BoxError`` for unusable ones.

    A box is rejected when a value is not finite, its width or height is not positive, it lies
    entirely outside the image, or what remains inside is smaller than ``MIN_BOX_SIZE``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(boxes)
    for i, (x, y, w, h) in enumerate(boxes):
        if not np.all(np.isfinite((x, y, w, h))):
            raise BoxError(i, "values must be finite numbers")
        if w <= 0 or h <= 0:
            raise BoxError(i, f"width and height must be positive, got w={w:g}, h={h:g}")
        x0, y0 = max(x, 0.0), max(y, 0.0)
        x1, y1 = min(x + w, float(width)), min(y + h, float(height))
        if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
            raise BoxError(i, f"lies outside the {width}x{height} image")
        if x1 - x0 < MIN_BOX_SIZE or y1 - y0 < MIN_BOX_SIZE:
            raise BoxError(
                i,
                f"is degenerate inside the image ({x1 - x0:.2f} x {y1 - y0:.2f} px, "
                f"minimum {MIN_BOX_SIZE:g} px)",
            )
        out[i] = (x0, y0, x1 - x0, y1 - y0)
    return out


def box_to_center_scale(
    boxes: np.ndarray, aspect_ratio: float, padding: float
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(N, 4)`` xywh -> centers ``(N, 2)`` and scales ``(N, 2)``.

    ``aspect_ratio`` is the input's ``w / h`` (0.75 for 192x256). The shorter side of each box is
    grown to that ratio, then both are multiplied by ``padding``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x, y, w, h = boxes.T
    centers = np.stack([x + w * 0.5, y + h * 0.5], axis=1)
    wide = w > aspect_ratio * h
    w_fixed = np.where(wide, w, h * aspect_ratio)
    h_fixed = np.where(wide, w / aspect_ratio, h)
    scales = np.stack([w_fixed, h_fixed], axis=1) / PIXEL_STD * padding
    return centers, scales


def affine_matrices(
    centers: np.ndarray,
    scales: np.ndarray,
    rotations: np.ndarray | float,
    output_size: tuple[int, int],
    inverse: bool = False,
) -> np.ndarray:
    """``(N, 2, 3)`` matrices mapping image -> output (or output -> image with ``inverse``).

    ``output_size`` is ``(W, H)``. The transform is the similarity of the reference's
    three-point construction: zoom ``W / (scale[0] * PIXEL_STD)``, rotation by ``-rotation``
    degrees about the center, and the center sent to ``(W / 2, H / 2)``.
    """
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    scales = np.asarray(scales, dtype=np.float64).reshape(-1, 2)
    n = centers.shape[0]
    rot = np.deg2rad(np.broadcast_to(np.asarray(rotations, dtype=np.float64), (n,)))
    out_w, out_h = output_size
    out_center = np.array([out_w * 0.5, out_h * 0.5])
    zoom = out_w / (scales[:, 0] * PIXEL_STD)
    cos, sin = np.cos(rot), np.sin(rot)
    mats = np.empty((n, 2, 3))
    if inverse:
        # output -> image: x = R(r) (q - q0) / zoom + c
        lin = np.stack([np.stack([cos, -sin], 1), np.stack([sin, cos], 1)], 1) / zoom[:, None, None]
        mats[:, :, :2] = lin
        mats[:, :, 2] = centers - lin @ out_center
    else:
        # image -> output: q = zoom R(-r) (x - c) + q0
        lin = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1) * zoom[:, None, None]
        mats[:, :, :2] = lin
        mats[:, :, 2] = out_center - np.einsum("nij,nj->ni", lin, centers)
    return mats


def transform_points(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Apply ``(N, 2, 3)`` affine matrices to points ``(N, K, 2)``."""
    points = np.asarray(points, dtype=np.float64)
    return np.einsum("nij,nkj->nki", matrices[:, :, :2], points) + matrices[:, None, :, 2]


def crop_images(
    image: np.ndarray,
    centers: np.ndarray,
    scales: np.ndarray,
    output_size: tuple[int, int],
    rotations: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Cut N person crops ``(N, H, W, C)`` out of one ``(H_img, W_img, C)`` image.

    Bilinear sampling; pixels outside the image are 0.
    """
    mats = affine_matrices(centers, scales, rotations, output_size)
    out_w, out_h = output_size
    crops = np.zeros((len(mats), out_h, out_w, image.shape[2]), dtype=image.dtype)
    for i, mat in enumerate(mats):
        crops[i] = cv2.warpAffine(
            image, mat, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        ).reshape(out_h, out_w, -1)
    return crops


def heatmap_to_image(
    coords: np.ndarray, centers: np.ndarray, scales: np.ndarray, heatmap_size: tuple[int, int]
) -> np.ndarray:
    """Map heatmap coordinates ``(N, K, 2)`` back to image pixels (no rotation at test time)."""
    return transform_points(
        coords, affine_matrices(centers, scales, 0.0, heatmap_size, inverse=True)
    )


def clip_keypoints(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip keypoint positions ``(..., 2)`` to the image's pixel grid ``[0, W-1] x [0, H-1]``.

    A person crop is padded beyond its box (and the whole-image fallback crop beyond the image),
    so a heatmap maximum can back-project outside the image. Every returned keypoint names a
    pixel of the image (``image[round(y), round(x)]`` exists); its score says how sure the model
    is. For a ground-truth keypoint inside the image the clipped position is never farther away
    than the unclipped one (the image is convex), so clipping cannot lower OKS or COCO AP.
    """
    xy = np.asarray(xy, dtype=np.float64)
    high = np.array([max(width - 1, 0), max(height - 1, 0)], dtype=np.float64)
    return np.clip(xy, 0.0, high)
