"""Person boxes sent with a request: JSON ``[[x, y, w, h], ...]`` or
``[{"bbox": [x, y, w, h], "score": s}, ...]`` in image pixels.

Only the shape of the JSON is checked here; whether a box fits the image is decided by
``simplepose.geometry.clip_boxes`` inside the pipeline (one rule for the service and evaluate).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from simplepose.serving.errors import ServiceError

BOX_VALUES = 4


def _invalid(index: int | None, reason: str) -> ServiceError:
    where = "boxes" if index is None else f"box {index}"
    return ServiceError(422, "invalid_boxes", f"{where}: {reason}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_one(index: int, item: Any) -> tuple[list[float], float]:
    score: Any = 1.0
    if isinstance(item, dict):
        unknown = set(item) - {"bbox", "score"}
        if unknown:
            raise _invalid(index, f"unknown keys {sorted(unknown)}; allowed: bbox, score")
        if "bbox" not in item:
            raise _invalid(index, 'an object box needs "bbox": [x, y, w, h]')
        bbox, score = item["bbox"], item.get("score", 1.0)
        if not _number(score) or not 0.0 <= score <= 1.0:
            raise _invalid(index, f"score must be a number in [0, 1], got {score!r}")
    else:
        bbox = item
    if not isinstance(bbox, list) or len(bbox) != BOX_VALUES:
        raise _invalid(index, f"expected [x, y, w, h] (4 numbers), got {json.dumps(bbox)[:80]}")
    if not all(_number(v) for v in bbox):
        raise _invalid(index, f"values must be finite numbers, got {json.dumps(bbox)[:80]}")
    return [float(v) for v in bbox], float(score)


def parse_boxes(text: str | None, max_boxes: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(boxes (N, 4), scores (N,))`` from the request's JSON, or ``None`` when not given."""
    if text is None or not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(None, f"not valid JSON ({exc.msg} at position {exc.pos})") from exc
    return boxes_from_list(data, max_boxes)


def boxes_from_list(data: Any, max_boxes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(boxes (N, 4), scores (N,))`` from already parsed JSON (a list of boxes)."""
    if not isinstance(data, list):
        raise _invalid(None, "expected a JSON list of boxes")
    if not data:
        raise _invalid(None, "the list is empty; omit the field to use the whole image")
    if len(data) > max_boxes:
        raise ServiceError(
            422, "too_many_boxes", f"{len(data)} boxes sent; at most {max_boxes} per request"
        )
    parsed = [_parse_one(i, item) for i, item in enumerate(data)]
    boxes = np.array([b for b, _ in parsed], dtype=np.float64)
    scores = np.array([s for _, s in parsed], dtype=np.float64)
    return boxes, scores
