"""Clips with known identities: a virtual camera moving over one real COCO image.

Each frame is the image seen through a camera window (pan back and forth past the image's
edges, slow zoom, small rotation); the ground-truth keypoints and boxes go through the same
affine matrix, so every person's id (its annotation id) is known in every frame. Persons near the
edges leave the view and come back as the camera pans.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simplepose.pose.geometry import PIXEL_STD, affine_matrices, crop_images, transform_points

WINDOW = 0.6  # camera window as a fraction of the image width / height
PAN_AMPLITUDE = 0.3  # the window centre swings this fraction of the image width each way
ZOOM_AMPLITUDE = 0.1  # zoom varies by +-10 %
ROTATION_DEG = 4.0  # small camera roll, +-4 degrees
MIN_VISIBLE = 3  # a person with fewer labelled joints in view is not in the frame


@dataclass(frozen=True)
class GroundTruth:
    ids: np.ndarray  # (P,) annotation ids of the persons in view
    keypoints: np.ndarray  # (P, K, 3) x, y in frame pixels, visibility 1/0 (in view and labelled)
    boxes: np.ndarray  # (P, 4) xywh, the COCO box corners transformed, clipped to the frame
    areas: np.ndarray  # (P,) COCO area scaled by the zoom squared (the OKS scale)


@dataclass(frozen=True)
class Clip:
    name: str
    frames: list[np.ndarray]  # (H, W, 3) uint8 BGR
    truth: list[GroundTruth]


def camera_path(width: int, speed: float) -> np.ndarray:
    """Window-centre x offsets for a pan right, left past the start, and back, moving ``speed``
    x window width per frame."""
    step = speed * WINDOW * width
    amplitude = PAN_AMPLITUDE * width
    legs = [np.arange(0, amplitude, step), np.arange(amplitude, -amplitude, -step),
            np.arange(-amplitude, 0, step)]  # fmt: skip
    return np.concatenate(legs)


def make_clip(image: np.ndarray, anns: list[dict], speed: float, name: str) -> Clip:
    height, width = image.shape[:2]
    out_w, out_h = int(WINDOW * width) // 2 * 2, int(WINDOW * height) // 2 * 2
    path = camera_path(width, speed)
    n = len(path)
    phase = np.arange(n) / max(n - 1, 1) * 2 * np.pi
    zooms = 1 + ZOOM_AMPLITUDE * np.sin(phase)
    rotations = ROTATION_DEG * np.sin(2 * phase)
    kps = np.stack([np.asarray(a["keypoints"], float).reshape(-1, 3) for a in anns])
    boxes = np.array([a["bbox"] for a in anns], float)
    corners = np.stack(
        [boxes[:, :2], boxes[:, :2] + boxes[:, 2:] * [1, 0], boxes[:, :2] + boxes[:, 2:],
         boxes[:, :2] + boxes[:, 2:] * [0, 1]], axis=1,
    )  # fmt: skip
    frames, truth = [], []
    for dx, zoom, rot in zip(path, zooms, rotations, strict=True):
        center = np.array([[width / 2 + dx, height / 2]])
        scale = np.array([[out_w / zoom / PIXEL_STD, out_h / zoom / PIXEL_STD]])
        frames.append(crop_images(image, center, scale, (out_w, out_h), rot)[0])
        mat = affine_matrices(center, scale, rot, (out_w, out_h))
        mats = np.repeat(mat, len(anns), axis=0)
        xy = transform_points(kps[..., :2], mats)
        inside = (xy[..., 0] >= 0) & (xy[..., 0] < out_w) & (xy[..., 1] >= 0) & (xy[..., 1] < out_h)
        vis = ((kps[..., 2] > 0) & inside).astype(float)
        cxy = transform_points(corners, mats)
        lo = np.clip(cxy.min(1), 0, [out_w, out_h])
        hi = np.clip(cxy.max(1), 0, [out_w, out_h])
        keep = (vis.sum(1) >= MIN_VISIBLE) & ((hi - lo) >= 2).all(1)
        truth.append(
            GroundTruth(
                ids=np.array([a["id"] for a in anns])[keep],
                keypoints=np.concatenate([xy, vis[..., None]], -1)[keep],
                boxes=np.concatenate([lo, hi - lo], 1)[keep],
                areas=np.array([a["area"] for a in anns])[keep] * zoom**2,
            )
        )
    return Clip(name, frames, truth)


def coco_persons(root: Path, split: str, min_persons: int, min_keypoints: int):
    """(image path, person annotations) of images with at least ``min_persons`` non-crowd
    persons having ``min_keypoints`` labelled joints."""
    import json

    data = json.loads((root / "annotations" / f"person_keypoints_{split}.json").read_text())
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        if not ann["iscrowd"] and ann["num_keypoints"] >= min_keypoints:
            by_image.setdefault(ann["image_id"], []).append(ann)
    for img in sorted(data["images"], key=lambda i: i["id"]):
        anns = by_image.get(img["id"], [])
        if len(anns) >= min_persons:
            yield root / split / img["file_name"], anns
