"""COCO-17 keypoint metadata: the only place that defines names, flip pairs, skeleton and sigmas."""

from __future__ import annotations

import numpy as np

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
PERSON_CATEGORY_ID = 1  # COCO's category id of "person" (annotations and detection results)


def _flip_pairs(names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Pairs (left, right) of joint indices, derived from the names."""
    pairs = []
    for i, name in enumerate(names):
        if name.startswith("left_"):
            pairs.append((i, names.index("right_" + name[len("left_") :])))
    return tuple(pairs)


FLIP_PAIRS: tuple[tuple[int, int], ...] = _flip_pairs(KEYPOINT_NAMES)


def flip_index(num_keypoints: int = NUM_KEYPOINTS) -> np.ndarray:
    """Permutation (K,) that swaps each left joint with its right partner."""
    if num_keypoints != NUM_KEYPOINTS:
        raise ValueError(
            f"flip pairs are defined for {NUM_KEYPOINTS} COCO keypoints, got {num_keypoints}"
        )
    index = np.arange(num_keypoints)
    for left, right in FLIP_PAIRS:
        index[left], index[right] = right, left
    return index


# COCO skeleton, 0-based joint indices (the COCO file format uses 1-based).
SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip

# Per-keypoint OKS falloff, as used by COCOeval.
OKS_SIGMAS: np.ndarray = (
    np.array(
        [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]
    )
    / 10.0
)  # fmt: skip

# BGR drawing colours: face, left side, right side.
_FACE, _LEFT, _RIGHT = (0, 215, 255), (255, 128, 0), (0, 128, 255)


def keypoint_color(index: int) -> tuple[int, int, int]:
    """BGR colour of a joint for drawing: left joints one colour, right joints another."""
    name = KEYPOINT_NAMES[index]
    if name.startswith("left_"):
        return _LEFT
    if name.startswith("right_"):
        return _RIGHT
    return _FACE


def limb_color(limb: tuple[int, int]) -> tuple[int, int, int]:
    """BGR colour of a limb: the side both ends share, else the face colour."""
    a, b = (keypoint_color(j) for j in limb)
    return a if a == b else _FACE
