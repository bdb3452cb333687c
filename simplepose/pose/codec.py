"""Heatmap codec: Gaussian targets in, keypoint coordinates out. NumPy only.

Shape symbols: N persons, K keypoints, heatmaps ``(N, K, H, W)``; sizes are ``(w, h)``.
Heatmap pixel ``i`` sits at input coordinate ``i * stride`` (stride = input / heatmap size).
"""

from __future__ import annotations

import cv2
import numpy as np

DECODE_METHODS = ("argmax", "quarter", "dark")
QUARTER_OFFSET = 0.25  # reference sub-pixel step towards the higher neighbour
GAUSSIAN_RADIUS_SIGMAS = 3  # the reference target window is +-3 sigma
DARK_LOG_FLOOR = 1e-10  # heatmap values are clamped here before the log
DARK_MAX_STEP = 1.0  # a Taylor step larger than this (px) is noise: keep the argmax instead


def dark_blur_kernel(sigma: float) -> int:
    """Odd Gaussian blur size for DARK: 11 at sigma 2 (256x192), 17 at sigma 3 (384x288)."""
    return int(6 * sigma - 1) if sigma >= 2 else int(2 * np.ceil(3 * sigma) + 1)


class HeatmapCodec:
    """Encode keypoints as Gaussian heatmaps and decode heatmaps back to keypoints.

    Args:
        input_size: network input ``(w, h)`` in pixels.
        heatmap_size: heatmap ``(w, h)`` in pixels.
        sigma: Gaussian standard deviation in heatmap pixels.
        unbiased: encode with the sub-pixel centre and the full Gaussian (no rounding, no
            window), instead of the reference integer centre inside a +-3 sigma window.
        blur_kernel: DARK's blur size; derived from ``sigma`` when not given.
    """

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        sigma: float = 2.0,
        unbiased: bool = False,
        blur_kernel: int | None = None,
    ):
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.sigma = float(sigma)
        self.unbiased = unbiased
        self.stride = np.array(
            [input_size[0] / heatmap_size[0], input_size[1] / heatmap_size[1]], dtype=np.float64
        )
        self.blur_kernel = blur_kernel if blur_kernel is not None else dark_blur_kernel(sigma)
        if self.blur_kernel % 2 != 1:
            raise ValueError(f"blur_kernel must be odd, got {self.blur_kernel}")
        w, h = self.heatmap_size
        self._xs = np.arange(w, dtype=np.float64)
        self._ys = np.arange(h, dtype=np.float64)

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints ``(N, K, 2)`` in input-crop pixels -> heatmaps ``(N, K, H, W)`` float32 and
        target weights ``(N, K)`` float32.

        A joint gets weight 0 when ``visible`` is 0 or its +-3 sigma window lies wholly outside
        the heatmap. Its heatmap is then all zeros, except that the unbiased encoder still draws
        a visible joint's (tiny) Gaussian tail, so decoding finds the nearest border point.
        """
        keypoints = np.asarray(keypoints, dtype=np.float64)
        if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
            raise ValueError(f"keypoints must be (N, K, 2), got {keypoints.shape}")
        visible = np.asarray(visible).reshape(keypoints.shape[:2])
        w, h = self.heatmap_size
        radius = GAUSSIAN_RADIUS_SIGMAS * self.sigma
        mu = keypoints / self.stride
        if not self.unbiased:
            mu = np.trunc(mu + 0.5)  # the reference's int(x + 0.5), truncating toward 0
        inside = (
            (mu[..., 0] - radius < w)
            & (mu[..., 1] - radius < h)
            & (mu[..., 0] + radius + 1 > 0)
            & (mu[..., 1] + radius + 1 > 0)
        )
        finite = np.all(np.isfinite(mu), axis=-1)
        weights = ((visible > 0) & inside & finite).astype(np.float32)
        # The unbiased encoder also draws joints whose window misses the heatmap (their tails
        # still point the decoder at the nearest border); their weight stays 0 for training.
        drawn = ((visible > 0) & finite).astype(np.float32) if self.unbiased else weights
        mu = np.where(drawn[..., None] > 0, mu, 0.0)
        dx = self._xs[None, None, :] - mu[..., 0:1]  # (N, K, W)
        dy = self._ys[None, None, :] - mu[..., 1:2]  # (N, K, H)
        gx = np.exp(-(dx**2) / (2 * self.sigma**2))
        gy = np.exp(-(dy**2) / (2 * self.sigma**2))
        if not self.unbiased:
            gx = gx * (np.abs(dx) <= radius)
            gy = gy * (np.abs(dy) <= radius)
        heatmaps = gy[..., :, None] * gx[..., None, :] * drawn[..., None, None]
        return heatmaps.astype(np.float32), weights

    def decode(self, heatmaps: np.ndarray, method: str = "dark") -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps ``(N, K, H, W)`` -> coordinates ``(N, K, 2)`` in heatmap pixels and scores
        ``(N, K)`` (the heatmap maximum). Joints whose maximum is <= 0 get coordinates 0 and
        score 0, as in the reference.

        ``method``: ``"argmax"`` (integer peak), ``"quarter"`` (peak plus a quarter pixel towards
        the higher neighbour) or ``"dark"`` (Taylor expansion of the log heatmap).
        """
        if method not in DECODE_METHODS:
            raise ValueError(f"decode method must be one of {DECODE_METHODS}, got {method!r}")
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        if heatmaps.ndim != 4:
            raise ValueError(f"heatmaps must be (N, K, H, W), got {heatmaps.shape}")
        coords, maxvals = argmax_coords(heatmaps)
        if method == "quarter":
            coords = refine_quarter(heatmaps, coords)
        elif method == "dark":
            coords = refine_dark(heatmaps, coords, self.blur_kernel)
        found = maxvals > 0
        return np.where(found[..., None], coords, 0.0), np.where(found, maxvals, 0.0)


def argmax_coords(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer peak ``(N, K, 2)`` as (x, y) floats and the peak value ``(N, K)``."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = flat.argmax(axis=-1) if h * w else np.zeros((n, k), dtype=np.int64)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0].astype(np.float64)
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float64)
    return coords, maxvals


def _gather(maps: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``maps[n, k, ys[n, k], xs[n, k]]`` for index arrays of shape (N, K)."""
    n, k = xs.shape
    return maps[np.arange(n)[:, None], np.arange(k)[None, :], ys, xs]


def refine_quarter(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Reference refinement: step 0.25 px towards the higher neighbour, away from the border."""
    _, _, h, w = heatmaps.shape
    px, py = coords[..., 0].astype(np.int64), coords[..., 1].astype(np.int64)
    ok = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    cx, cy = np.clip(px, 1, w - 2), np.clip(py, 1, h - 2)
    dx = _gather(heatmaps, cx + 1, cy) - _gather(heatmaps, cx - 1, cy)
    dy = _gather(heatmaps, cx, cy + 1) - _gather(heatmaps, cx, cy - 1)
    step = QUARTER_OFFSET * np.stack([np.sign(dx), np.sign(dy)], axis=-1)
    return coords + np.where(ok[..., None], step, 0.0)


def _blur(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    n, k, h, w = heatmaps.shape
    stack = heatmaps.reshape(n * k, h, w).transpose(1, 2, 0)  # (H, W, N*K) for one cv2 call
    out = np.empty_like(stack)
    for start in range(0, stack.shape[2], 512):  # OpenCV caps channels at 512
        out[:, :, start : start + 512] = cv2.GaussianBlur(
            np.ascontiguousarray(stack[:, :, start : start + 512]), (kernel, kernel), 0
        ).reshape(h, w, -1)
    return out.transpose(2, 0, 1).reshape(n, k, h, w)


def refine_dark(heatmaps: np.ndarray, coords: np.ndarray, blur_kernel: int) -> np.ndarray:
    """DARK: one Newton step on the log heatmap, ``x* = m - H^-1 g``, around the peak.

    Border care (why this is not the textbook version):

    * The derivatives are central differences at the peak moved one pixel in from the border,
      so peaks on the first or last row/column are refined too. The log of a Gaussian is
      quadratic, so a Newton step from a neighbouring pixel lands on the same maximum.
    * Blurring pads the border, which bends a peak that touches it. The blurred map is used
      only where the blur window and the stencil stay inside the heatmap; nearer the border
      the raw map is used.
    * A step larger than ``DARK_MAX_STEP`` or a Hessian that is not negative definite means
      the peak is not Gaussian-like; the argmax is kept.
    """
    n, k, h, w = heatmaps.shape
    if n * k == 0 or h < 3 or w < 3:
        return coords
    radius = blur_kernel // 2
    blurred = _blur(heatmaps, blur_kernel)
    px, py = coords[..., 0].astype(np.int64), coords[..., 1].astype(np.int64)
    cx, cy = np.clip(px, 1, w - 2), np.clip(py, 1, h - 2)
    safe = (
        (cx - 1 >= radius)
        & (cx + 1 <= w - 1 - radius)
        & (cy - 1 >= radius)
        & (cy + 1 <= h - 1 - radius)
    )

    def at(ox: int, oy: int) -> np.ndarray:
        """Log heatmap at the stencil point: only the 9 points per joint are taken the log of."""
        value = np.where(
            safe, _gather(blurred, cx + ox, cy + oy), _gather(heatmaps, cx + ox, cy + oy)
        )
        return np.log(np.maximum(value, DARK_LOG_FLOOR)).astype(np.float64)

    center = at(0, 0)
    right, left, down, up = at(1, 0), at(-1, 0), at(0, 1), at(0, -1)
    gx = 0.5 * (right - left)
    gy = 0.5 * (down - up)
    hxx = right - 2 * center + left
    hyy = down - 2 * center + up
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = hxx * hyy - hxy**2
    ok = (hxx < 0) & (det > 0)
    det = np.where(ok, det, 1.0)
    step_x = -(hyy * gx - hxy * gy) / det
    step_y = -(hxx * gy - hxy * gx) / det
    refined = np.stack([cx + step_x, cy + step_y], axis=-1)
    ok &= np.all(np.abs(refined - coords) <= DARK_MAX_STEP, axis=-1)
    return np.where(ok[..., None], refined, coords)


def flip_back(heatmaps: np.ndarray, flip_index: np.ndarray, shift: bool = True) -> np.ndarray:
    """Undo a horizontal input flip on heatmaps ``(N, K, H, W)``: mirror along W, swap each
    left/right joint pair (``flip_index``, ``KeypointSet.flip_index()``), and (reference) shift
    one pixel right: ``f[..., 1:] = f[..., :-1]``.
    """
    heatmaps = np.asarray(heatmaps)
    if len(flip_index) != heatmaps.shape[1]:
        raise ValueError(f"flip index of {len(flip_index)} joints for {heatmaps.shape[1]} heatmaps")
    out = heatmaps[:, flip_index, :, ::-1].copy()
    if shift:
        out[..., 1:] = out[..., :-1].copy()
    return out
