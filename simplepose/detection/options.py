"""What a user may say about a detector: its input preprocessing and its thresholds.

One place for the service settings (``SIMPLEPOSE_DETECTOR_*``), the CLI options
(``--detector-*``) and ``PoseEstimator(detector_options=...)``. Every field is optional: an
unset field keeps what the detector itself says (its mmdeploy ``pipeline.json``, a known graph's
preset, or the defaults of ``BoxFilter``). Set fields win over all of those.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from simplepose.detection.box_ops import BoxFilter
from simplepose.detection.spec import CHANNEL_ORDERS, MAX_GRAPH_SIDE, End2EndSpec

SIZE_PATTERN = re.compile(r"\s*(\d{1,5})\s*[x,]\s*(\d{1,5})\s*")
MAX_PIXEL_STAT = 1e4  # a mean/std beyond this is not a pixel statistic


def parse_size(text: str) -> tuple[int, int]:
    """``"320x320"`` (width x height) -> ``(320, 320)``; a ``ValueError`` says what is wrong."""
    match = SIZE_PATTERN.fullmatch(str(text))
    if not match:
        raise ValueError(f"detector input size must be WIDTHxHEIGHT such as 320x320, got {text!r}")
    size = (int(match.group(1)), int(match.group(2)))
    if not all(0 < s <= MAX_GRAPH_SIDE for s in size):
        raise ValueError(f"detector input size {size} out of range 1..{MAX_GRAPH_SIDE}")
    return size


def parse_triple(text: str | tuple[float, ...] | list[float], what: str) -> tuple[float, ...]:
    """``"103.53,116.28,123.675"`` (or three numbers) -> a tuple of three finite numbers."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        values = tuple(float(p) for p in parts)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be three numbers a,b,c, got {str(text)[:80]!r}") from exc
    if len(values) != 3 or not all(math.isfinite(v) and abs(v) <= MAX_PIXEL_STAT for v in values):
        raise ValueError(f"{what} must be three finite numbers a,b,c, got {str(text)[:80]!r}")
    if what.endswith("std") and min(values) <= 0:
        raise ValueError(f"{what} must be positive, got {values}")
    return values


@dataclass(frozen=True)
class DetectorOptions:
    """User overrides of a detector; ``None`` keeps the detector's own value."""

    input_size: tuple[int, int] | None = None  # (width, height)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channel_order: str | None = None  # BGR or RGB
    score_thr: float | None = None
    nms_iou: float | None = None
    max_persons: int | None = None

    def __post_init__(self) -> None:
        if self.channel_order is not None and self.channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"channel order must be one of {CHANNEL_ORDERS}")
        BoxFilter(**{k: v for k, v in self.threshold_items().items() if v is not None})

    @classmethod
    def parse(
        cls,
        input_size: str | tuple[int, int] | None = None,
        mean: str | tuple[float, ...] | None = None,
        std: str | tuple[float, ...] | None = None,
        channel_order: str | None = None,
        score_thr: float | None = None,
        nms_iou: float | None = None,
        max_persons: int | None = None,
    ) -> DetectorOptions:
        """From the text forms of the CLI and the environment (``320x320``, ``a,b,c``)."""
        size = parse_size(input_size) if isinstance(input_size, str) else input_size
        return cls(
            input_size=size,
            mean=None if mean is None else parse_triple(mean, "detector mean"),
            std=None if std is None else parse_triple(std, "detector std"),
            channel_order=None if channel_order is None else channel_order.upper(),
            score_thr=score_thr,
            nms_iou=nms_iou,
            max_persons=max_persons,
        )

    def threshold_items(self) -> dict[str, Any]:
        return {"score_thr": self.score_thr, "nms_iou": self.nms_iou,
                "max_persons": self.max_persons}  # fmt: skip

    def gives_preprocessing(self) -> bool:
        return self.input_size is not None

    def apply_spec(self, spec: End2EndSpec) -> End2EndSpec:
        """``spec`` with the preprocessing fields set here replacing its own."""
        given = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name in ("input_size", "mean", "std", "channel_order")
            and getattr(self, f.name) is not None
        }
        return replace(spec, **given)

    def apply_rules(self, rules: BoxFilter) -> BoxFilter:
        """``rules`` with the thresholds set here replacing its own."""
        given = {k: v for k, v in self.threshold_items().items() if v is not None}
        if "max_persons" in given and rules.pre_nms_top_k < given["max_persons"]:
            given["pre_nms_top_k"] = given["max_persons"]
        return replace(rules, **given)


NO_OPTIONS = DetectorOptions()
