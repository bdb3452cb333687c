"""Training augmentation (seed recipe): flip with left/right swap, scale, rotation, half-body,
then the affine crop. Geometry comes from ``simplepose.pose.geometry``; nothing is re-implemented.

Shapes: K joints; ``joints`` ``(K, 2)`` image pixels, ``visible`` ``(K,)``; sizes are ``(w, h)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from simplepose.config.presets import DataConfig
from simplepose.pose.geometry import PIXEL_STD, affine_matrices, crop_images, transform_points
from simplepose.pose.keypoints import KeypointSet

HALF_BODY_PADDING = 1.5  # context around a half-body box (reference value)
HALF_BODY_MIN_SELECTED = 2  # fewer visible joints in the chosen half: keep the full body


@dataclass(frozen=True)
class Jitter:
    """Random parameters of one sample: scale multiplier, rotation (degrees), horizontal flip."""

    scale: float = 1.0
    rotation: float = 0.0
    flip: bool = False


def sample_jitter(rng: np.random.Generator, data: DataConfig) -> Jitter:
    """Seed recipe: ``s *= clip(randn*f + 1, 1-f, 1+f)``; with probability ``rotation_prob``
    ``r = clip(randn*R, -2R, 2R)``; flip with probability ``flip_prob``."""
    sf, rf = data.scale_factor, data.rotation_factor
    scale = float(np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf))
    rotation = 0.0
    if rng.random() < data.rotation_prob:
        rotation = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf))
    return Jitter(scale=scale, rotation=rotation, flip=bool(rng.random() < data.flip_prob))


def half_body_box(
    joints: np.ndarray,
    visible: np.ndarray,
    aspect_ratio: float,
    rng: np.random.Generator,
    keypoints: KeypointSet,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Center ``(2,)`` and scale ``(2,)`` around the visible joints of the upper or lower body
    (``keypoints.upper_body`` and the rest; chosen at random), or ``None`` when the chosen half
    has too few visible joints."""
    upper = [j for j in keypoints.upper_body if visible[j] > 0]
    lower = [j for j in keypoints.lower_body if visible[j] > 0]
    chosen = upper if rng.random() < 0.5 and len(upper) > HALF_BODY_MIN_SELECTED else lower
    if len(chosen) <= HALF_BODY_MIN_SELECTED:
        chosen = upper
    if len(chosen) < HALF_BODY_MIN_SELECTED:
        return None
    pts = joints[chosen]
    center = pts.mean(axis=0)
    w, h = pts.max(axis=0) - pts.min(axis=0)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return center, np.array([w, h]) / PIXEL_STD * HALF_BODY_PADDING


def flip_sample(
    image: np.ndarray,
    joints: np.ndarray,
    visible: np.ndarray,
    center: np.ndarray,
    keypoints: KeypointSet,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mirror the image; mirror joints (``x -> W - 1 - x``) and swap the set's left/right
    partners."""
    width = image.shape[1]
    index = keypoints.flip_index()
    joints = joints[index].copy()
    joints[:, 0] = width - 1 - joints[:, 0]
    center = np.array([width - 1 - center[0], center[1]])
    return cv2.flip(image, 1), joints, visible[index], center


def crop_sample(
    image: np.ndarray,
    joints: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    rotation: float,
    input_size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Affine crop ``(H, W, 3)`` and the joints ``(K, 2)`` in crop pixels."""
    crop = crop_images(image, center[None], scale[None], input_size, rotation)[0]
    mats = affine_matrices(center[None], scale[None], rotation, input_size)
    return crop, transform_points(joints[None], mats)[0]


def augment(
    image: np.ndarray,
    joints: np.ndarray,
    visible: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    input_size: tuple[int, int],
    data: DataConfig,
    rng: np.random.Generator | None,
    keypoints: KeypointSet,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training (``rng`` given) or plain (``rng=None``) crop: ``(H, W, 3)`` crop, joints
    ``(K, 2)`` in crop pixels, visibility ``(K,)``; flips swap ``keypoints``' pairs."""
    center = np.asarray(center, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    if rng is None:
        crop, pts = crop_sample(image, joints, center, scale, 0.0, input_size)
        return crop, pts, visible
    if (
        data.half_body_prob > 0
        and (visible > 0).sum() > data.half_body_min_joints
        and rng.random() < data.half_body_prob
    ):
        half = half_body_box(joints, visible, input_size[0] / input_size[1], rng, keypoints)
        if half is not None:
            center, scale = half
    jitter = sample_jitter(rng, data)
    scale = scale * jitter.scale
    if jitter.flip:
        image, joints, visible, center = flip_sample(image, joints, visible, center, keypoints)
    crop, pts = crop_sample(image, joints, center, scale, jitter.rotation, input_size)
    return crop, pts, visible
