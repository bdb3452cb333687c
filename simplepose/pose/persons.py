"""Person-level post-processing: rescoring and OKS non-maximum suppression. NumPy only.

The thresholds have no defaults here: they come from the model's ``config.test`` (through
``pipeline.PosePipeline``), the one source for evaluate, predict and the service.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simplepose.pose.geometry import PIXEL_STD
from simplepose.pose.keypoints import PERSON_CATEGORY_ID


def rescore(maxvals: np.ndarray, box_scores: np.ndarray, in_vis_thre: float) -> np.ndarray:
    """Person score ``(N,)`` = box score x mean of the joint scores ``(N, K)`` above
    ``in_vis_thre`` (0 when no joint is above it)."""
    maxvals = np.asarray(maxvals, dtype=np.float64)
    above = maxvals > in_vis_thre
    count = above.sum(axis=-1)
    mean = np.where(count > 0, (maxvals * above).sum(axis=-1) / np.maximum(count, 1), 0.0)
    return np.asarray(box_scores, dtype=np.float64) * mean


def scale_areas(scales: np.ndarray) -> np.ndarray:
    """Area ``(N,)`` of the padded crop region, the OKS normaliser of the reference."""
    scales = np.asarray(scales, dtype=np.float64).reshape(-1, 2)
    return scales[:, 0] * PIXEL_STD * scales[:, 1] * PIXEL_STD


def oks_between(
    a: np.ndarray,
    b: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """Object keypoint similarity ``(A, B)`` of every pose in ``a`` ``(A, K, 2+)`` with every
    pose in ``b`` ``(B, K, 2+)``. ``areas`` (broadcast to ``(A, B)``) is the scale s^2 of each
    pair; ``sigmas`` ``(K,)`` the keypoint set's falloffs (``KeypointSet.sigma_array()``);
    ``visible`` ``(A, B, K)`` picks the joints that count (default: all). A pair with no
    joint counted has OKS 0."""
    pa = np.asarray(a, dtype=np.float64)[..., :2]
    pb = np.asarray(b, dtype=np.float64)[..., :2]
    if np.shape(sigmas) != pa.shape[1:2]:
        raise ValueError(f"{np.size(sigmas)} OKS sigmas for poses of {pa.shape[1]} joints")
    variances = (np.asarray(sigmas) * 2) ** 2
    d2 = ((pa[:, None] - pb[None, :]) ** 2).sum(-1)  # (A, B, K)
    areas = np.broadcast_to(np.asarray(areas, dtype=np.float64), d2.shape[:2]) + np.spacing(1)
    sim = np.exp(-d2 / variances / areas[..., None] / 2)
    if visible is None:
        return sim.mean(-1) if pa.shape[1] else np.zeros(d2.shape[:2])
    weights = np.asarray(visible, dtype=np.float64)
    count = weights.sum(-1)
    return np.where(count > 0, (sim * weights).sum(-1) / np.maximum(count, 1), 0.0)


def oks_matrix(keypoints: np.ndarray, areas: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Pairwise object keypoint similarity ``(N, N)`` of keypoints ``(N, K, 2+)``."""
    areas = np.asarray(areas, dtype=np.float64)
    return oks_between(keypoints, keypoints, (areas[:, None] + areas[None, :]) / 2, sigmas)


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    threshold: float,
    sigmas: np.ndarray,
    joint_threshold: float | None = None,
) -> np.ndarray:
    """Greedy NMS: indices of the persons kept, best score first. A person is suppressed when
    its OKS with a kept, higher-scoring person exceeds ``threshold``. With ``joint_threshold``,
    OKS counts only the joints scoring above it in both poses (the reference counts all)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    areas = np.asarray(areas, dtype=np.float64)
    if joint_threshold is None:
        oks = oks_matrix(keypoints, areas, sigmas)
    else:
        seen = np.asarray(keypoints)[..., 2] > joint_threshold
        mean_area = (areas[:, None] + areas[None, :]) / 2
        oks = oks_between(keypoints, keypoints, mean_area, sigmas, seen[:, None] & seen[None])
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(scores), dtype=bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= oks[i] > threshold
    return np.array(keep, dtype=np.int64)


def coco_keypoint_results(
    image_id: int,
    keypoints: np.ndarray,
    scores: np.ndarray,
    boxes: np.ndarray,
    category_id: int = PERSON_CATEGORY_ID,
) -> list[dict[str, Any]]:
    """COCO keypoint-results entries (what ``pycocotools`` ``loadRes`` reads) for persons with
    ``keypoints`` ``(N, K, 3)`` (x, y, score), ``scores`` ``(N,)`` and xywh ``boxes`` ``(N, 4)``;
    ``category_id`` is the annotations' id of the keypoint set's category."""
    return [
        {
            "image_id": int(image_id),
            "category_id": int(category_id),
            "keypoints": [round(float(v), 3) for v in np.asarray(keypoints[i]).reshape(-1)],
            "score": float(scores[i]),
            "bbox": [round(float(v), 3) for v in boxes[i]],
        }
        for i in range(len(scores))
    ]
