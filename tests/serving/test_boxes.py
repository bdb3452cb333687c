"""Box JSON parsing: accepted shapes and the error for each malformed one."""

from __future__ import annotations

import numpy as np
import pytest

from simplepose.serving.boxes import parse_boxes
from simplepose.serving.http_errors import ServiceError


def test_lists_and_objects_with_scores() -> None:
    boxes, scores = parse_boxes('[[1, 2, 30, 40], {"bbox": [5, 6, 7, 8], "score": 0.5}]', 4)
    np.testing.assert_array_equal(boxes, [[1, 2, 30, 40], [5, 6, 7, 8]])
    np.testing.assert_array_equal(scores, [1.0, 0.5])


def test_absent_or_blank_means_no_boxes() -> None:
    assert parse_boxes(None, 4) is None
    assert parse_boxes("  ", 4) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[1, 2, 3]", "not valid JSON"),
        ('{"bbox": [1, 2, 3, 4]}', "expected a JSON list"),
        ("[]", "empty"),
        ("[[1, 2, 3]]", "box 0: expected [x, y, w, h]"),
        ('[[1, 2, 3, 4], [1, 2, "a", 4]]', "box 1: values must be finite"),
        ('[{"box": [1, 2, 3, 4]}]', "box 0: unknown keys"),
        ('[{"bbox": [1, 2, 3, 4], "score": 2}]', "box 0: score must be"),
        ("[[1, 2, true, 4]]", "box 0: values must be finite"),
    ],
)
def test_malformed_boxes_name_the_box_and_the_reason(text: str, fragment: str) -> None:
    with pytest.raises(ServiceError) as exc:
        parse_boxes(text, 4)
    assert (exc.value.status, exc.value.code) == (422, "invalid_boxes")
    assert fragment in exc.value.message


def test_too_many_boxes() -> None:
    with pytest.raises(ServiceError) as exc:
        parse_boxes(str([[0, 0, 1, 1]] * 5), 4)
    assert (exc.value.status, exc.value.code) == (422, "too_many_boxes")
