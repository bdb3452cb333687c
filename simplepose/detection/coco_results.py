"""Detections of image files as COCO detection results (what ``evaluate --boxes FILE`` reads)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from simplepose.detection.base import Detections, PersonDetector
from simplepose.pose.keypoints import PERSON_CATEGORY_ID
from simplepose.pose.pipeline import read_image

DETECT_BATCH = 4  # images per detector call


def coco_records(image_id: int | str, found: Detections) -> list[dict[str, Any]]:
    """One ``{image_id, category_id, bbox, score}`` per box (xywh pixels, COCO's format)."""
    return [
        {
            "image_id": image_id,
            "category_id": PERSON_CATEGORY_ID,
            "bbox": [round(float(v), 2) for v in box],
            "score": round(float(score), 5),
        }
        for box, score in zip(found.boxes, found.scores, strict=True)
    ]


def detect_files(
    detector: PersonDetector,
    paths: Iterable[Path],
    batch: int = DETECT_BATCH,
    on_image: Callable[[], object] | None = None,  # its result is ignored
) -> Iterator[tuple[Path, Detections | ValueError]]:
    """Run ``detector`` over image files, ``batch`` images per call; an unreadable image gives
    its ``ValueError`` in place of detections (the others go on)."""
    pending: list[tuple[Path, Any]] = []

    def flush() -> Iterator[tuple[Path, Detections | ValueError]]:
        images = [image for _, image in pending]
        for (path, _), found in zip(pending, detector.detect_batch(images), strict=True):
            yield path, found
        pending.clear()

    for path in paths:
        try:
            pending.append((path, read_image(str(path))))
        except ValueError as exc:
            yield path, exc
        if on_image:
            on_image()
        if len(pending) >= batch:
            yield from flush()
    if pending:
        yield from flush()
