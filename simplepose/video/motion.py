"""Frame-to-frame motion for tracking (NumPy/OpenCV): points followed by pyramidal
Lucas-Kanade with a forward-backward check, and the camera's own motion (phase correlation for
the pan, refined by Lucas-Kanade on a background grid and a RANSAC similarity fit).

Frames are grayscale ``(H, W)`` arrays; points are ``(M, 2)`` ``(x, y)`` pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

LK_WINDOW = (31, 31)  # Lucas-Kanade window (px) per pyramid level
LK_LEVELS = 3  # pyramid levels: followed motions reach ~60 px per frame
LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
FB_MAX_ERROR = 2.0  # px: a point whose forward-backward flow misses by more is not trusted
GLOBAL_MOTION_SIZE = 256  # px: frames are downscaled to this longer side to find the pan
CAMERA_GRID = (12, 8)  # background points followed to fit the camera motion
CAMERA_MIN_POINTS = 6  # fewer followed points: the camera motion is the phase-correlation shift


def global_motion(prev_gray: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """The frame's dominant translation ``(dx, dy)`` in pixels (camera pan) by phase correlation
    on downscaled frames: the starting guess that lets Lucas-Kanade follow large motions."""
    scale = min(1.0, GLOBAL_MOTION_SIZE / max(gray.shape))
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    if min(size) < 2:  # a sliver of a frame (1 px, or too elongated to downscale): no pan found
        return np.zeros(2)
    a = cv2.resize(prev_gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    b = cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    window = cv2.createHanningWindow(size, cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a, b, window)
    return np.array([dx, dy]) / scale


def camera_motion(prev_gray: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """``(2, 3)`` similarity transform of the background from ``prev_gray`` to ``gray``
    (camera pan, zoom, roll): Lucas-Kanade on a grid of points, started from the phase
    correlation shift, fitted with RANSAC (moving people are outliers)."""
    shift = global_motion(prev_gray, gray)
    matrix = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
    h, w = gray.shape[:2]
    xs = np.linspace(0.05 * w, 0.95 * w, CAMERA_GRID[0])
    ys = np.linspace(0.05 * h, 0.95 * h, CAMERA_GRID[1])
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    moved, ok = optical_flow(prev_gray, gray, grid, grid + shift)
    if ok.sum() >= CAMERA_MIN_POINTS:
        fitted, _ = cv2.estimateAffinePartial2D(
            grid[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=FB_MAX_ERROR
        )
        if fitted is not None:
            matrix = fitted
    return matrix


def optical_flow(
    prev_gray: np.ndarray, gray: np.ndarray, points: np.ndarray, guess: np.ndarray | None = None
) -> tuple:
    """Points ``(M, 2)`` moved from ``prev_gray`` into ``gray`` by pyramidal Lucas-Kanade
    (starting from ``guess`` ``(M, 2)`` when given), and ``(M,)`` True where the
    forward-backward check passed."""
    pts = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 1, 2)
    start = (
        pts.copy() if guess is None else np.ascontiguousarray(guess, np.float32).reshape(-1, 1, 2)
    )
    flags = 0 if guess is None else cv2.OPTFLOW_USE_INITIAL_FLOW
    fwd, ok1, _ = cv2.calcOpticalFlowPyrLK(
        prev_gray, gray, pts, start, winSize=LK_WINDOW, maxLevel=LK_LEVELS, criteria=LK_CRITERIA,
        flags=flags,
    )  # fmt: skip
    back_start = pts.copy() if guess is None else fwd - (start - pts)
    back, ok2, _ = cv2.calcOpticalFlowPyrLK(
        gray, prev_gray, fwd, back_start, winSize=LK_WINDOW, maxLevel=LK_LEVELS,
        criteria=LK_CRITERIA, flags=flags,
    )  # fmt: skip
    error = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
    ok = ok1.ravel().astype(bool) & ok2.ravel().astype(bool) & (error < FB_MAX_ERROR)
    return fwd.reshape(-1, 2).astype(np.float64), ok
