"""Keypoint sets as data: names, flip pairs, skeleton, OKS sigmas, colours and body halves.

A ``KeypointSet`` is the one description of what a model's K outputs mean. It travels in the
config (``Config.keypoints``), hence in checkpoint metadata and ``model.json``; the codec's
flip-back, the fused flip of exported graphs, OKS NMS, evaluation, the tracker, drawing and the
service all read it from there. ``COCO17`` is the built-in instance; configs saved without a
``keypoints`` section describe it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PERSON_CATEGORY_ID = 1  # COCO's category id of "person" (annotations and detection results)
MAX_KEYPOINTS = 1024  # more joints than any real set (WholeBody has 133): a hostile file
MAX_NAME_LENGTH = 64
LOWER_BODY_PARTS = ("hip", "knee", "ankle")  # name endings of the lower half when not given
LEFT, RIGHT = "left_", "right_"
# RGB drawing colours derived from names: centre joints, left side, right side.
CENTRE_RGB, LEFT_RGB, RIGHT_RGB = (255, 215, 0), (0, 128, 255), (255, 128, 0)

Pair = tuple[int, int]


class KeypointSetError(ValueError):
    """An inconsistent keypoint set; ``problems`` lists every inconsistency found."""

    def __init__(self, name: str, problems: list[str]):
        super().__init__(f"keypoint set {name!r}: " + "; ".join(problems))
        self.problems = problems


def derive_flip_pairs(names: Sequence[str]) -> tuple[Pair, ...]:
    """Pairs ``(left, right)`` of joint indices whose names differ only in ``left_``/``right_``."""
    index = {name: i for i, name in enumerate(names)}
    return tuple(
        (i, index[RIGHT + name[len(LEFT) :]])
        for i, name in enumerate(names)
        if name.startswith(LEFT) and RIGHT + name[len(LEFT) :] in index
    )


def _side_color(name: str) -> tuple[int, int, int]:
    if name.startswith(LEFT):
        return LEFT_RGB
    if name.startswith(RIGHT):
        return RIGHT_RGB
    return CENTRE_RGB


def _pair_problems(names: Sequence[str], pairs: Sequence[Pair], what: str) -> list[str]:
    k = len(names)
    problems = []
    for a, b in pairs:
        if not (0 <= a < k and 0 <= b < k):
            problems.append(f"{what} ({a}, {b}) names a joint outside 0..{k - 1}")
        elif a == b:
            problems.append(f"{what} ({names[a]}, {names[b]}) joins a joint to itself")
    return problems


def _flip_problems(names: Sequence[str], pairs: Sequence[Pair]) -> list[str]:
    """Why ``pairs`` cannot be the flip pairs of ``names`` (empty when they can)."""
    problems = _pair_problems(names, pairs, "flip pair")
    if problems:
        return problems
    seen: dict[int, Pair] = {}
    for pair in pairs:
        for j in pair:
            if j in seen:
                problems.append(f"joint {names[j]} is in two flip pairs: {seen[j]} and {pair}")
            seen[j] = pair
    partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
    for left, right in derive_flip_pairs(names):
        if partner.get(left) != right:
            got = names[partner[left]] if left in partner else "nothing"
            problems.append(
                f"flip pairs contradict the names: {names[left]} must swap with "
                f"{names[right]}, not {got}"
            )
    for a, b in pairs:
        for side in (LEFT, RIGHT):
            if names[a].startswith(side) and names[b].startswith(side):
                problems.append(
                    f"flip pair ({names[a]}, {names[b]}) contradicts the names: both are {side}"
                )
    return problems


@dataclass(frozen=True)
class KeypointSet:
    """What the K outputs of a pose model are. Indices are 0-based joint positions.

    ``flip_pairs``, ``colors`` and ``upper_body`` may be left ``None``: flip pairs then come from
    ``left_``/``right_`` names, colours from the side a name says, and the upper body is every
    joint whose name does not end in hip/knee/ankle. Given flip pairs that contradict the names
    are an error. ``colors`` are RGB. Problems raise ``KeypointSetError`` listing all of them.
    """

    names: tuple[str, ...]
    skeleton: tuple[Pair, ...]
    sigmas: tuple[float, ...]
    flip_pairs: tuple[Pair, ...] = None  # type: ignore[assignment]
    colors: tuple[tuple[int, int, int], ...] = None  # type: ignore[assignment]
    upper_body: tuple[int, ...] = None  # type: ignore[assignment]
    category: str = "person"
    name: str = "custom"

    def __post_init__(self) -> None:
        names = self.names
        put = object.__setattr__
        if self.flip_pairs is None:
            put(self, "flip_pairs", derive_flip_pairs(names))
        if self.colors is None:
            put(self, "colors", tuple(_side_color(n) for n in names))
        if self.upper_body is None:
            lower = {i for i, n in enumerate(names) if n.split("_")[-1] in LOWER_BODY_PARTS}
            put(self, "upper_body", tuple(i for i in range(len(names)) if i not in lower))
        problems = self.problems()
        if problems:
            raise KeypointSetError(self.name, problems)

    def problems(self) -> list[str]:
        """Every inconsistency of this set (empty when it is valid)."""
        names, k = self.names, len(self.names)
        problems = []
        if not 1 <= k <= MAX_KEYPOINTS:
            return [f"needs 1 to {MAX_KEYPOINTS} keypoint names, got {k}"]
        bad = [n for n in names if not isinstance(n, str) or not 0 < len(n) <= MAX_NAME_LENGTH]
        if bad:
            problems.append(f"names must be 1 to {MAX_NAME_LENGTH} characters: {bad[:4]}")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"duplicate keypoint names: {duplicates}")
        if len(self.sigmas) != k:
            problems.append(f"{len(self.sigmas)} OKS sigmas for {k} keypoints")
        elif not all(math.isfinite(s) and s > 0 for s in self.sigmas):
            problems.append("OKS sigmas must be positive numbers")
        problems += _pair_problems(names, self.skeleton, "skeleton limb")
        if not duplicates:
            problems += _flip_problems(names, self.flip_pairs)
        if len(self.colors) != k:
            problems.append(f"{len(self.colors)} colours for {k} keypoints")
        elif not all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in self.colors):
            problems.append("colours must be [r, g, b] with values 0..255")
        if not all(0 <= j < k for j in self.upper_body) or len(set(self.upper_body)) != len(
            self.upper_body
        ):
            problems.append(f"upper_body must list distinct joints of 0..{k - 1}")
        return problems

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    @property
    def lower_body(self) -> tuple[int, ...]:
        return tuple(j for j in range(self.num_keypoints) if j not in self.upper_body)

    def flip_index(self) -> np.ndarray:
        """Permutation ``(K,)`` that swaps each left joint with its right partner."""
        index = np.arange(self.num_keypoints)
        for left, right in self.flip_pairs:
            index[left], index[right] = right, left
        return index

    def sigma_array(self) -> np.ndarray:
        """OKS falloff per keypoint ``(K,)``, as ``COCOeval.params.kpt_oks_sigmas`` takes it."""
        return np.asarray(self.sigmas, dtype=np.float64)

    def keypoint_color(self, index: int) -> tuple[int, int, int]:
        """BGR colour of a joint (OpenCV drawing)."""
        r, g, b = self.colors[index]
        return b, g, r

    def limb_color(self, limb: Pair) -> tuple[int, int, int]:
        """BGR colour of a limb: its ends' colour when they share one, else the centre colour."""
        a, b = (self.keypoint_color(j) for j in limb)
        return a if a == b else (CENTRE_RGB[2], CENTRE_RGB[1], CENTRE_RGB[0])

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, every derived field written out (config files, model.json, the API)."""
        return {
            "name": self.name,
            "category": self.category,
            "names": list(self.names),
            "skeleton": [list(p) for p in self.skeleton],
            "sigmas": list(self.sigmas),
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "colors": [list(c) for c in self.colors],
            "upper_body": list(self.upper_body),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "keypoints") -> KeypointSet:
        """Build a set from a YAML/JSON mapping. Limbs, flip pairs and upper-body joints may be
        given by name or by 0-based index. Unknown keys and wrong types are ``ValueError``."""
        if isinstance(data, str):
            return builtin_set(data)
        if not isinstance(data, Mapping):
            raise ValueError(f"{where} must be a mapping or a built-in set name, got {data!r}")
        allowed = {"name", "category", "names", "skeleton", "sigmas", "flip_pairs", "colors"}
        allowed |= {"upper_body"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")
        missing = [k for k in ("names", "skeleton", "sigmas") if k not in data]
        if missing:
            raise ValueError(f"{where}: missing {missing}")
        names = _strings(data["names"], f"{where}.names")
        lookup = {n: i for i, n in enumerate(names)}

        def joint(value: Any, key: str) -> int:
            if isinstance(value, str):
                if value not in lookup:
                    raise ValueError(f"{key}: {value!r} is not one of the names")
                return lookup[value]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{key}: expected a name or an index, got {value!r}")
            return value

        def pairs(key: str) -> tuple[Pair, ...]:
            items = _list(data[key], f"{where}.{key}")
            if not all(isinstance(p, list | tuple) and len(p) == 2 for p in items):
                raise ValueError(f"{where}.{key}: every entry must be a pair [a, b]")
            return tuple((joint(a, f"{where}.{key}"), joint(b, f"{where}.{key}")) for a, b in items)

        sigmas = _list(data["sigmas"], f"{where}.sigmas")
        if not all(isinstance(s, int | float) and not isinstance(s, bool) for s in sigmas):
            raise ValueError(f"{where}.sigmas: every entry must be a number")
        colors = None
        if data.get("colors") is not None:
            colors = tuple(tuple(c) for c in _list(data["colors"], f"{where}.colors"))
            if not all(all(isinstance(v, int) for v in c) for c in colors):
                raise ValueError(f"{where}.colors: every entry must be [r, g, b] integers")
        upper = None
        if data.get("upper_body") is not None:
            items = _list(data["upper_body"], f"{where}.upper_body")
            upper = tuple(joint(v, f"{where}.upper_body") for v in items)
        flips = pairs("flip_pairs") if data.get("flip_pairs") is not None else None
        return cls(
            names=names,
            skeleton=pairs("skeleton"),
            sigmas=tuple(float(s) for s in sigmas),
            flip_pairs=flips,  # type: ignore[arg-type]
            colors=colors,  # type: ignore[arg-type]
            upper_body=upper,  # type: ignore[arg-type]
            category=str(data.get("category", "person")),
            name=str(data.get("name", "custom")),
        )


def _list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{key} must be a list, got {type(value).__name__}")
    if len(value) > MAX_KEYPOINTS * 4:
        raise ValueError(f"{key} has {len(value)} entries (at most {MAX_KEYPOINTS * 4})")
    return list(value)


def _strings(value: Any, key: str) -> tuple[str, ...]:
    items = _list(value, key)
    if not all(isinstance(v, str) for v in items):
        raise ValueError(f"{key} must be a list of strings")
    return tuple(items)


COCO17 = KeypointSet(
    name="coco17",
    category="person",
    names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    # 0-based joint indices (the COCO file format uses 1-based).
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
        (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    # Per-keypoint OKS falloff, as COCOeval uses it.
    sigmas=tuple(
        s / 10.0
        for s in (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87,
                  .89, .89)
    ),
)  # fmt: skip

BUILTIN_SETS: dict[str, KeypointSet] = {COCO17.name: COCO17}


def builtin_set(name: str) -> KeypointSet:
    if name not in BUILTIN_SETS:
        raise ValueError(f"unknown keypoint set {name!r}; built in: {', '.join(BUILTIN_SETS)}")
    return BUILTIN_SETS[name]
