"""COCO helpers for the benches: the annotation files of a coco-mini style folder, val images
with their person boxes, and a quiet pycocotools ``COCOeval`` for person results."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from simplepose.pose.keypoints import PERSON_CATEGORY_ID
from simplepose.training.coco import annotation_path, image_dir, load_annotations

VAL_SPLIT = "val2017"
MIN_BOX_SIDE = 8  # px: smaller ground-truth persons are not used as requests


def annotation_file(data: Path, split: str) -> Path:
    """``training.coco``'s annotation path of ``split``; FileNotFoundError when absent."""
    path = annotation_path(data, split)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    return path


def load_coco(data: Path, split: str) -> COCO:
    """The person keypoint annotations of ``split``, loaded without pycocotools' prints."""
    path = annotation_file(data, split)
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def val_person_boxes(
    data: Path, limit: int, min_persons: int = 1, with_keypoints: bool = False
) -> list[tuple[Path, list]]:
    """Up to ``limit`` val2017 images (by image id) showing at least ``min_persons`` non-crowd
    persons of at least ``MIN_BOX_SIDE`` px (``with_keypoints``: only persons with a labelled
    keypoint count), each with those persons' xywh boxes."""
    anns = load_annotations(data, VAL_SPLIT)  # checked: e.g. no file_name leaves the folder
    by_image: dict[int, list] = {}
    for a in anns["annotations"]:
        if a.get("iscrowd") or min(a["bbox"][2:]) < MIN_BOX_SIDE:
            continue
        if with_keypoints and a.get("num_keypoints", 0) <= 0:
            continue
        by_image.setdefault(a["image_id"], []).append(a["bbox"])
    names = {i["id"]: i["file_name"] for i in anns["images"]}
    picked = [
        (image_dir(data, VAL_SPLIT) / names[i], boxes)
        for i, boxes in sorted(by_image.items())
        if len(boxes) >= min_persons
    ]
    return picked[:limit]


def person_ap(
    coco: COCO, results: list[dict[str, Any]], iou_type: str, image_ids: list[int] | None = None
) -> tuple[float, float]:
    """AP and AP50 of person ``results`` (COCO results format) by ``COCOeval(iou_type)``, over
    ``image_ids`` (default: every image of ``coco``); (0, 0) without results."""
    if not results:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco, coco.loadRes(results), iou_type)
        ev.params.catIds = [PERSON_CATEGORY_ID]
        if image_ids is not None:
            ev.params.imgIds = sorted(set(image_ids))
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])
