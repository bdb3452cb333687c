"""Dataset description files: COCO-format keypoint annotations of any keypoint set.

A YAML file names, per split, an annotation file and an image folder (relative paths are taken
from ``root``, itself relative to the YAML file's folder), and the keypoint set
(``simplepose.pose.keypoints.KeypointSet.from_dict``)::

    name: factory9
    root: .                     # optional; default: the folder of this file
    train: {annotations: annotations/train.json, images: images/train}
    val: {annotations: annotations/val.json, images: images/val}
    keypoints:
      category: person          # the annotation files' category holding the keypoints
      names: [head, neck, left_shoulder, right_shoulder, ...]
      skeleton: [[head, neck], [neck, left_shoulder], ...]
      sigmas: [0.026, 0.035, 0.079, 0.079, ...]
      flip_pairs: [[left_shoulder, right_shoulder], ...]   # optional: from left_/right_ names

docs/training.md documents every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simplepose.pose.keypoints import KeypointSet

SPLITS = ("train", "val", "test")
TOP_KEYS = frozenset({"name", "root", "keypoints", *SPLITS})
MAX_FILE_BYTES = 1 << 20  # a description, not data: anything larger is a mistake or an attack


@dataclass(frozen=True)
class SplitFiles:
    """One split: its COCO-format annotation file and the folder its ``file_name``s are in."""

    annotations: Path
    images: Path


@dataclass(frozen=True)
class DatasetFile:
    """A parsed dataset description file."""

    path: Path
    name: str
    splits: tuple[tuple[str, SplitFiles], ...]
    keypoints: KeypointSet

    def split(self, name: str) -> SplitFiles:
        found = dict(self.splits)
        if name not in found:
            raise ValueError(
                f"{self.path} has no split {name!r}; it has: {', '.join(found) or 'none'}"
            )
        return found[name]

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.splits)

    def __str__(self) -> str:
        return str(self.path)


def read_description(path: str | Path) -> dict[str, Any]:
    """The YAML mapping of a dataset file; ``ValueError`` naming the file when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: a dataset file is at most {MAX_FILE_BYTES} bytes")
    try:
        data = yaml.safe_load(path.read_text())
    except RecursionError as exc:
        raise ValueError(f"{path} is not a usable dataset file: nested too deeply") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid YAML: {str(exc)[:200]}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a dataset file is a mapping (name, train, val, keypoints)")
    unknown = sorted(str(k) for k in set(data) - TOP_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; allowed: {sorted(TOP_KEYS)}")
    if "keypoints" not in data:
        raise ValueError(f"{path}: needs a 'keypoints' section (names, skeleton, sigmas)")
    if not any(s in data for s in SPLITS):
        raise ValueError(f"{path}: names no split ({', '.join(SPLITS)})")
    return data


def parse_splits(path: Path, data: Mapping[str, Any]) -> tuple[tuple[str, SplitFiles], ...]:
    """The splits of a dataset file's mapping, paths resolved against its root."""
    root = data.get("root", ".")
    if not isinstance(root, str):
        raise ValueError(f"{path}: root must be a path")
    base = path.parent / root
    splits = []
    for name in SPLITS:
        if name not in data:
            continue
        entry = data[name]
        if not isinstance(entry, dict) or set(entry) != {"annotations", "images"}:
            raise ValueError(f"{path}: {name} needs exactly 'annotations' and 'images'")
        if not all(isinstance(v, str) and v for v in entry.values()):
            raise ValueError(f"{path}: {name}.annotations and {name}.images must be paths")
        splits.append((name, SplitFiles(base / entry["annotations"], base / entry["images"])))
    return tuple(splits)


def load_dataset_file(path: str | Path) -> DatasetFile:
    """Parse and validate a dataset file (paths are not checked for existence here: that is
    ``simplepose data check``'s job, with every problem listed)."""
    path = Path(path)
    data = read_description(path)
    name = str(data.get("name", path.stem))
    spec = data["keypoints"]
    if isinstance(spec, dict):
        spec = {"name": name, **spec}
    try:
        keypoints = KeypointSet.from_dict(spec)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return DatasetFile(path, name, parse_splits(path, data), keypoints)
