"""COCO-format keypoints: annotation files, person samples and detection results.

A COCO root holds ``annotations/person_keypoints_<split>.json`` and images in ``<split>/``; a
dataset file (``training.dataset_file``) names the two per split. Either is a data source.
Box -> (center, scale) goes through ``simplepose.pose.geometry``; nothing here re-implements it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from simplepose.config.presets import Config
from simplepose.jsonfile import read_json
from simplepose.pose.geometry import BoxError, box_to_center_scale, clip_boxes
from simplepose.pose.keypoints import PERSON_CATEGORY_ID, KeypointSet
from simplepose.training.dataset_file import DatasetFile

log = logging.getLogger(__name__)
IMAGE_FIELDS = frozenset({"id", "file_name", "width", "height"})
DataSource = str | Path | DatasetFile  # a COCO root or a dataset file


def annotation_path(root: DataSource, split: str) -> Path:
    if isinstance(root, DatasetFile):
        return root.split(split).annotations
    return Path(root) / "annotations" / f"person_keypoints_{split}.json"


def image_dir(root: DataSource, split: str) -> Path:
    if isinstance(root, DatasetFile):
        return root.split(split).images
    return Path(root) / split


def check_root(root: DataSource, split: str) -> Path:
    """Raise ``FileNotFoundError`` naming what is missing from a COCO root or dataset file."""
    if isinstance(root, DatasetFile):
        files = root.split(split)
        if not files.annotations.is_file():
            raise FileNotFoundError(
                f"{root}: {split} annotation file {files.annotations} not found"
            )
        if not files.images.is_dir():
            raise FileNotFoundError(f"{root}: {split} image folder {files.images} not found")
        return files.annotations
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root not found: {root}")
    ann = annotation_path(root, split)
    if not ann.is_file():
        raise FileNotFoundError(
            f"{ann} not found: a COCO root needs annotations/person_keypoints_{split}.json"
        )
    if not image_dir(root, split).is_dir():
        raise FileNotFoundError(f"image folder {image_dir(root, split)} not found")
    return ann


def load_annotations(root: DataSource, split: str) -> dict[str, Any]:
    """The parsed annotation file of ``split``; a clear error when it is not COCO keypoints."""
    path = check_root(root, split)
    data = read_json(path, "COCO annotation file", dict)
    if not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
        raise ValueError(f"{path} is not a COCO annotation file (needs 'images', 'annotations')")
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or not img.keys() >= IMAGE_FIELDS:
            raise ValueError(f"{path}: images[{i}] needs {', '.join(sorted(IMAGE_FIELDS))}")
        if not isinstance(img["file_name"], str) or not stays_inside(img["file_name"]):
            raise ValueError(
                f"{path}: images[{i}] file_name {str(img['file_name'])[:80]!r} must be a "
                "relative path inside the image folder"
            )
        if not all(is_int(img[k]) for k in ("width", "height")):
            raise ValueError(f"{path}: images[{i}] width and height must be integers")
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise ValueError(f"{path}: annotations[{i}] needs image_id")
        if not isinstance(ann.get("bbox", []), list) or not isinstance(
            ann.get("keypoints", []), list
        ):
            raise ValueError(f"{path}: annotations[{i}] bbox and keypoints must be lists")
    return data


def category_id(data: dict[str, Any], name: str) -> int:
    """Id of the category ``name`` in an annotation file (COCO's person, 1, when the file lists
    no categories); ``ValueError`` when the file lists others only."""
    categories = data.get("categories")
    if not isinstance(categories, list) or not categories:
        return PERSON_CATEGORY_ID
    for cat in categories:
        if isinstance(cat, dict) and cat.get("name") == name and is_int(cat.get("id")):
            return int(cat["id"])
    raise ValueError(f"the annotation file has no category named {name!r}")


def data_category(root: DataSource, data: dict[str, Any], keypoints: KeypointSet) -> int:
    """The category id of ``keypoints``' instances in ``data`` (the annotations of ``root``),
    after checking the data describes that keypoint set: a dataset file's own set, or the
    annotation file's list of keypoint names."""
    if isinstance(root, DatasetFile) and root.keypoints.names != keypoints.names:
        raise ValueError(
            f"the model's keypoints ({keypoints.name}: {', '.join(keypoints.names[:5])}, ...) "
            f"are not those of {root} ({', '.join(root.keypoints.names[:5])}, ...)"
        )
    wanted = category_id(data, keypoints.category)
    for cat in data.get("categories") or []:
        listed = cat.get("keypoints") if isinstance(cat, dict) else None
        if (
            cat.get("id") == wanted
            and isinstance(listed, list)
            and len(listed) != len(keypoints.names)
        ):
            raise ValueError(
                f"the annotations have {len(listed)} keypoints per {keypoints.category}, the "
                f"model {keypoints.num_keypoints} ({keypoints.name})"
            )
    return wanted


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def stays_inside(name: str) -> bool:
    """A relative path without ``..``: joined to the image folder it cannot leave it."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return (
        bool(parts)
        and "\x00" not in name
        and not PurePosixPath(name).is_absolute()
        and ".." not in parts
        and (":" not in parts[0])
    )


@dataclass(frozen=True)
class PersonSample:
    """One annotated person. ``joints`` is ``(K, 3)``: x, y in image pixels and visibility."""

    image_id: int
    image_path: Path
    box: np.ndarray  # (4,) xywh clipped to the image
    center: np.ndarray  # (2,)
    scale: np.ndarray  # (2,)
    joints: np.ndarray  # (K, 3) float64
    annotation_id: int


@dataclass
class SkipCounter:
    """Counts of data skipped, by reason; logged once at the end instead of crashing."""

    counts: Counter

    def __init__(self) -> None:
        self.counts = Counter()

    def add(self, reason: str, n: int = 1) -> None:
        self.counts[reason] += n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.counts:
            return "nothing skipped"
        return ", ".join(f"{n} {reason}" for reason, n in sorted(self.counts.items()))


def _clip_box(box: list[float], width: int, height: int) -> np.ndarray | None:
    try:
        return clip_boxes(np.asarray(box, dtype=np.float64), width, height)[0]
    except BoxError:
        return None


def person_samples(
    root: DataSource, split: str, config: Config, skipped: SkipCounter | None = None
) -> list[PersonSample]:
    """Non-crowd instances of ``config.keypoints``' category with at least one labelled
    keypoint, with crop center/scale.

    Persons whose box lies outside their image, or whose image file is missing, are skipped and
    counted in ``skipped``.
    """
    skipped = skipped if skipped is not None else SkipCounter()
    data = load_annotations(root, split)
    num_keypoints = config.keypoints.num_keypoints
    wanted = data_category(root, data, config.keypoints)
    images = {img["id"]: img for img in data["images"]}
    folder = image_dir(root, split)
    m = config.model
    aspect = m.input_size[0] / m.input_size[1]
    samples: list[PersonSample] = []
    exists: dict[int, bool] = {}
    for ann in data["annotations"]:
        if ann.get("category_id", wanted) != wanted or ann.get("iscrowd"):
            continue
        kps = np.asarray(ann.get("keypoints") or [], dtype=np.float64)
        if kps.size != num_keypoints * 3 or kps[2::3].max() <= 0:
            continue  # no labelled keypoint: nothing to learn from (reference behaviour)
        img = images.get(ann["image_id"])
        if img is None:
            skipped.add("annotations of unknown images")
            continue
        path = folder / img["file_name"]
        if ann["image_id"] not in exists:
            exists[ann["image_id"]] = path.is_file()
        if not exists[ann["image_id"]]:
            skipped.add("persons with a missing image file")
            log.warning("missing image %s (annotation %s)", path, ann.get("id"))
            continue
        box = _clip_box(ann.get("bbox", [0, 0, 0, 0]), img["width"], img["height"])
        if box is None:
            skipped.add("persons with a box outside the image")
            log.warning("annotation %s: box %s outside its image", ann.get("id"), ann.get("bbox"))
            continue
        centers, scales = box_to_center_scale(box[None], aspect, config.data.box_padding)
        samples.append(
            PersonSample(
                image_id=int(ann["image_id"]),
                image_path=path,
                box=box,
                center=centers[0],
                scale=scales[0],
                joints=kps.reshape(num_keypoints, 3),
                annotation_id=int(ann.get("id", -1)),
            )
        )
    return samples


@dataclass(frozen=True)
class ImageBoxes:
    """Person boxes of one image for evaluation: ``boxes`` ``(N, 4)`` xywh, ``scores`` ``(N,)``."""

    image_id: int
    image_path: Path
    boxes: np.ndarray
    scores: np.ndarray


def gt_boxes(
    data: dict[str, Any], folder: Path, category: int = PERSON_CATEGORY_ID
) -> dict[int, ImageBoxes]:
    """Ground-truth boxes (score 1) of the non-crowd instances of ``category`` with keypoints,
    per image.

    These are the persons COCOeval scores; persons without keypoints are ignored by it.
    """
    per_image: dict[int, list[list[float]]] = {img["id"]: [] for img in data["images"]}
    for ann in data["annotations"]:
        if ann.get("category_id", category) != category or ann.get("iscrowd"):
            continue
        if ann.get("num_keypoints", 0) <= 0:
            continue
        if ann["image_id"] in per_image:
            per_image[ann["image_id"]].append(list(ann["bbox"]))
    return _by_image(data, folder, {k: (v, [1.0] * len(v)) for k, v in per_image.items()})


def detection_boxes(
    path: str | Path,
    data: dict[str, Any],
    folder: Path,
    score_thre: float,
    category: int = PERSON_CATEGORY_ID,
) -> dict[int, ImageBoxes]:
    """Boxes of ``category`` in a COCO detection-results file (list of ``{image_id,
    category_id, bbox, score}``) with ``score >= score_thre``, for the images of the annotation
    file."""
    path = Path(path)
    dets = read_json(path, "detection results file", list)
    return detection_records_boxes(dets, data, folder, score_thre, str(path), category)


def detection_records_boxes(
    dets: list,
    data: dict[str, Any],
    folder: Path,
    score_thre: float,
    source: str,
    category: int = PERSON_CATEGORY_ID,
) -> dict[int, ImageBoxes]:
    """``detection_boxes`` of records already in memory (e.g. from ``simplepose.detection``)."""
    per_image: dict[int, tuple[list, list]] = {img["id"]: ([], []) for img in data["images"]}
    for i, det in enumerate(dets):
        if not isinstance(det, dict) or not {"image_id", "bbox", "score"} <= det.keys():
            raise ValueError(f"{source}: detection {i} needs image_id, bbox and score")
        if det.get("category_id", category) != category:
            continue
        if det["score"] < score_thre or det["image_id"] not in per_image:
            continue
        boxes, scores = per_image[det["image_id"]]
        boxes.append(list(det["bbox"]))
        scores.append(float(det["score"]))
    return _by_image(data, folder, per_image)


def _by_image(
    data: dict[str, Any], folder: Path, per_image: dict[int, tuple[list, list]]
) -> dict[int, ImageBoxes]:
    out = {}
    for img in data["images"]:
        boxes, scores = per_image.get(img["id"], ([], []))
        out[img["id"]] = ImageBoxes(
            image_id=img["id"],
            image_path=folder / img["file_name"],
            boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            scores=np.asarray(scores, dtype=np.float64),
        )
    return out
