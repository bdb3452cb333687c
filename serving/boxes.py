"""Person boxes sent with a request: JSON ``[[x, y, w, h], ...]`` or
``[{"bbox": [x, y, w, h], "score": s}, ...]`` in image pixels.

Every malformed value is a 422 (never a 500): huge integers, deep nesting, over-long text.
The service parses boxes in a worker thread, not on the event loop. Only the shape is checked
here; whether a box fits the image is decided by
``simplepose.pose.geometry.clip_boxes`` inside the pipeline (one rule for the service and evaluate).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from simplepose.serving.service_error import ServiceError

BOX_VALUES = 4
MAX_BOXES_JSON_CHARS = 1 << 20  # a few hundred boxes fit in a few kB
MAX_COORDINATE = 1e9  # far beyond any image side; keeps float conversion and geometry finite


def _invalid(index: int | None, reason: str) -> ServiceError:
    where = "boxes" if index is None else f"box {index}"
    return ServiceError(422, "invalid_boxes", f"{where}: {reason}")


def _number(value: Any) -> bool:
    """A finite JSON number of sane size (ints are compared, never converted, first: a
    400-digit integer would overflow a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return -MAX_COORDINATE <= value <= MAX_COORDINATE
    return math.isfinite(value) and abs(value) <= MAX_COORDINATE


def _show(value: Any) -> str:
    """A short description of a user value for messages (never a deep recursive dump)."""
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**12:
        return "an integer too large"
    return repr(value)[:40]


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
            raise _invalid(index, f"score must be a number in [0, 1], got {_show(score)}")
    else:
        bbox = item
    if not isinstance(bbox, list) or len(bbox) != BOX_VALUES:
        raise _invalid(index, f"expected [x, y, w, h] (4 numbers), got {_show(bbox)}")
    bad = [v for v in bbox if not _number(v)]
    if bad:
        raise _invalid(index, f"values must be finite numbers within 1e9, got {_show(bad[0])}")
    return [float(v) for v in bbox], float(score)


def parse_boxes(text: str | None, max_boxes: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(boxes (N, 4), scores (N,))`` from the request's JSON, or ``None`` when not given."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_BOXES_JSON_CHARS:
        raise _invalid(None, f"the JSON is over {MAX_BOXES_JSON_CHARS} characters")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(None, f"not valid JSON ({exc.msg} at position {exc.pos})") from exc
    except RecursionError as exc:
        raise _invalid(None, "the JSON is nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise _invalid(None, f"not usable JSON ({str(exc)[:80]})") from exc
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
