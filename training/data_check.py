"""``simplepose data check``: what a dataset file's annotations hold, and every problem in them.

Each problem names its file and the image or annotation id it is about. ``train --dataset`` runs
the same check first and refuses to start on a dataset with problems, instead of failing (or
silently skipping persons) mid-epoch.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simplepose.jsonfile import read_json
from simplepose.pose.keypoints import KeypointSet, KeypointSetError
from simplepose.training.coco import IMAGE_FIELDS, is_int, stays_inside
from simplepose.training.dataset_file import SplitFiles, parse_splits, read_description

MAX_LISTED = 200  # problems kept with their text; the rest are counted
VISIBILITY = (0, 1, 2)  # COCO: not labelled, labelled but hidden, labelled and visible


@dataclass(frozen=True)
class Problem:
    file: Path
    where: str  # "image 397133", "annotation 2005", "keypoints", ...
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


@dataclass
class SplitStats:
    """Counts of one split (only the keypoint category's non-crowd instances)."""

    name: str
    images: int = 0
    instances: int = 0
    labelled_per_instance: Counter = field(default_factory=Counter)  # labelled joints -> count
    visibility: Counter = field(default_factory=Counter)  # v -> count
    per_keypoint: list[int] = field(default_factory=list)  # labelled count per joint

    def describe(self, names: tuple[str, ...]) -> list[str]:
        per = self.labelled_per_instance
        mean = sum(k * n for k, n in per.items()) / max(1, self.instances)
        lines = [
            f"{self.name}: {self.images} images, {self.instances} instances, "
            f"{mean:.1f} labelled keypoints per instance",
            "  labelled keypoints per instance: "
            + ", ".join(f"{k}: {per[k]}" for k in sorted(per)),
            "  visibility: " + ", ".join(f"v={v}: {self.visibility.get(v, 0)}" for v in VISIBILITY),
        ]
        if names and len(self.per_keypoint) == len(names):
            lines.append(
                "  labelled per keypoint: "
                + ", ".join(f"{n} {c}" for n, c in zip(names, self.per_keypoint, strict=True))
            )
        return lines


@dataclass
class CheckReport:
    path: Path
    keypoints: KeypointSet | None = None
    splits: list[SplitStats] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    total_problems: int = 0

    @property
    def ok(self) -> bool:
        return self.total_problems == 0

    def add(self, file: Path, where: str, message: str) -> None:
        self.total_problems += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(Problem(file, where, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": str(self.path),
            "keypoints": self.keypoints.to_dict() if self.keypoints else None,
            "splits": [
                {
                    "name": s.name,
                    "images": s.images,
                    "instances": s.instances,
                    "labelled_per_instance": {
                        str(k): n for k, n in sorted(s.labelled_per_instance.items())
                    },
                    "visibility": {str(v): s.visibility.get(v, 0) for v in VISIBILITY},
                    "labelled_per_keypoint": s.per_keypoint,
                }
                for s in self.splits
            ],
            "problems": [
                {"file": str(p.file), "where": p.where, "message": p.message} for p in self.problems
            ],
            "total_problems": self.total_problems,
        }

    def describe(self) -> str:
        names = self.keypoints.names if self.keypoints else ()
        lines = [f"dataset {self.path}"]
        if self.keypoints:
            k = self.keypoints
            lines.append(
                f"keypoints ({k.num_keypoints}, category {k.category!r}): {', '.join(k.names)}"
            )
        for split in self.splits:
            lines += split.describe(names)
        if self.ok:
            lines.append("no problems found")
        else:
            lines.append(f"{self.total_problems} problems:")
            lines += [f"  {p}" for p in self.problems]
            if self.total_problems > len(self.problems):
                lines.append(f"  ... and {self.total_problems - len(self.problems)} more")
        return "\n".join(lines)


def check_dataset(path: str | Path) -> CheckReport:
    """Read a dataset file and every annotation file it names; collect counts and problems."""
    path = Path(path)
    report = CheckReport(path)
    try:
        data = read_description(path)
        splits = parse_splits(path, data)
    except (OSError, ValueError) as exc:
        report.add(path, "dataset file", str(exc))
        return report
    spec = data["keypoints"]
    names = _names(spec)
    try:
        report.keypoints = KeypointSet.from_dict(spec, "keypoints")
    except KeypointSetError as exc:
        for message in exc.problems:
            report.add(path, "keypoints", message)
    except ValueError as exc:
        report.add(path, "keypoints", str(exc))
    category = spec.get("category", "person") if isinstance(spec, dict) else "person"
    for name, files in splits:
        report.splits.append(_check_split(report, name, files, names, str(category)))
    return report


def _names(spec: Any) -> tuple[str, ...] | None:
    names = spec.get("names") if isinstance(spec, dict) else None
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return tuple(names)
    return None


def _check_split(
    report: CheckReport, name: str, files: SplitFiles, names: tuple[str, ...] | None, category: str
) -> SplitStats:
    stats = SplitStats(name, per_keypoint=[0] * len(names or ()))
    ann_file = files.annotations
    if not files.images.is_dir():
        report.add(files.images, name, "image folder not found")
    try:
        data = read_json(ann_file, f"{name} annotation file", dict)
    except (OSError, ValueError) as exc:
        report.add(ann_file, name, str(exc))
        return stats
    if not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
        report.add(ann_file, name, "not a COCO annotation file (needs 'images', 'annotations')")
        return stats
    wanted = _category(report, ann_file, data, category, names)
    images = _check_images(report, ann_file, data["images"], files.images)
    stats.images = len(images)
    seen: set[int] = set()
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not is_int(ann.get("id")):
            report.add(ann_file, f"annotations[{i}]", "needs an integer id")
            continue
        where = f"annotation {ann['id']}"
        if ann["id"] in seen:
            report.add(ann_file, where, "duplicate annotation id")
        seen.add(ann["id"])
        if ann.get("category_id") != wanted or ann.get("iscrowd"):
            continue
        image = images.get(ann.get("image_id"))  # type: ignore[arg-type]
        if image is None:
            report.add(ann_file, where, f"image_id {str(ann.get('image_id'))[:40]} is no image")
            continue
        _check_box(report, ann_file, where, ann.get("bbox"), image)
        if names is not None:
            _check_keypoints(report, ann_file, where, ann.get("keypoints"), image, names, stats)
    return stats


def _category(
    report: CheckReport, file: Path, data: dict, category: str, names: tuple[str, ...] | None
) -> int | None:
    """The id of the keypoint category; its keypoint names must be the dataset file's."""
    cats = [c for c in data.get("categories") or [] if isinstance(c, dict)]
    found = [c for c in cats if c.get("name") == category]
    if not found:
        have = ", ".join(str(c.get("name"))[:40] for c in cats[:10]) or "none"
        report.add(file, "categories", f"no category named {category!r} (has: {have})")
        return None
    listed = found[0].get("keypoints")
    if names is not None and isinstance(listed, list) and tuple(listed) != names:
        report.add(
            file,
            f"category {category!r}",
            f"lists keypoints {[str(n)[:40] for n in listed[:20]]}, which contradict the "
            f"dataset file's names {list(names)}",
        )
    return found[0].get("id")


def _check_images(
    report: CheckReport, file: Path, images: list, folder: Path
) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for i, img in enumerate(images):
        if not isinstance(img, dict) or not img.keys() >= IMAGE_FIELDS or not is_int(img["id"]):
            report.add(file, f"images[{i}]", f"needs {', '.join(sorted(IMAGE_FIELDS))}")
            continue
        where = f"image {img['id']}"
        if img["id"] in out:
            report.add(file, where, "duplicate image id")
            continue
        name = img["file_name"]
        if not isinstance(name, str) or not stays_inside(name):
            report.add(file, where, f"file_name {str(name)[:80]!r} leaves the image folder")
            continue
        if not all(is_int(img[k]) and img[k] > 0 for k in ("width", "height")):
            report.add(file, where, "width and height must be positive integers")
            continue
        if not (folder / name).is_file():
            report.add(file, where, f"image file {folder / name} is missing")
        out[img["id"]] = img
    return out


def _numbers(values: Any) -> bool:
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def _check_box(
    report: CheckReport, file: Path, where: str, box: Any, image: dict[str, Any]
) -> None:
    if not isinstance(box, list) or len(box) != 4 or not _numbers(box):
        report.add(file, where, f"bbox must be [x, y, w, h] numbers, got {str(box)[:60]}")
        return
    x, y, w, h = box
    if w <= 0 or h <= 0:
        report.add(file, where, f"box {box} has zero area")
    elif x >= image["width"] or y >= image["height"] or x + w <= 0 or y + h <= 0:
        report.add(
            file, where, f"box {box} lies outside its {image['width']}x{image['height']} image"
        )


def _check_keypoints(
    report: CheckReport,
    file: Path,
    where: str,
    values: Any,
    image: dict[str, Any],
    names: tuple[str, ...],
    stats: SplitStats,
) -> None:
    k = len(names)
    if not isinstance(values, list) or len(values) != 3 * k:
        size = len(values) if isinstance(values, list) else type(values).__name__
        report.add(file, where, f"keypoints has {size} values, expected {3 * k} ({k} x [x, y, v])")
        return
    if not _numbers(values):
        report.add(file, where, "keypoints must be finite numbers")
        return
    stats.instances += 1
    labelled = 0
    width, height = image["width"], image["height"]
    for j in range(k):
        x, y, v = values[3 * j : 3 * j + 3]
        if v not in VISIBILITY:
            report.add(file, where, f"{names[j]}: visibility {v} is not 0, 1 or 2")
            continue
        stats.visibility[int(v)] += 1
        if v == 0:
            continue
        labelled += 1
        stats.per_keypoint[j] += 1
        if not (0 <= x <= width and 0 <= y <= height):
            report.add(
                file, where, f"{names[j]} at ({x:g}, {y:g}) is outside its {width}x{height} image"
            )
    stats.labelled_per_instance[labelled] += 1
