"""Per-keypoint AP: which joints a model finds and which the data lacks.

Definition: the AP of joint ``j`` is COCO keypoint AP (pycocotools ``COCOeval``, the same
results, person scores and matching) with the object keypoint similarity computed on joint ``j``
alone, ``OKS_j = exp(-d_j^2 / (2 s^2 k_j^2))`` (``s^2`` the person's area, ``k_j = 2 sigma_j``).
Persons whose joint ``j`` is not labelled are ignored for it, as COCOeval ignores persons
without labelled keypoints, so ``labelled`` (how many persons carry the joint) says how much
evidence each row has. AP, AP50 and AP75 average over the same OKS thresholds as COCO's; a joint
labelled nowhere has no AP. As in COCOeval, a result counts as matching an ignored person when it
lies within twice that person's box; in crowded images one result may so take another person's
place, so ground-truth keypoints score a little under 1 (>= 0.94 on coco-mini val2017).
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = ("keypoint", "labelled", "AP", "AP50", "AP75", "AR")


@dataclass(frozen=True)
class KeypointAP:
    """One row of the table; the AP numbers are ``None`` when no person has the joint labelled."""

    name: str
    labelled: int
    ap: float | None
    ap50: float | None
    ap75: float | None
    ar: float | None

    def values(self) -> tuple[Any, ...]:
        return (self.name, self.labelled, self.ap, self.ap50, self.ap75, self.ar)


def _one_joint(annotations: list[dict[str, Any]], joint: int) -> list[dict[str, Any]]:
    """The annotations with every joint but ``joint`` marked unlabelled."""
    out = []
    for ann in annotations:
        kps = np.asarray(ann.get("keypoints", []), dtype=np.float64).reshape(-1, 3).copy()
        keep = kps[joint, 2] if len(kps) > joint else 0
        kps[:, 2] = 0
        if len(kps) > joint:
            kps[joint, 2] = keep
        out.append({**ann, "keypoints": kps.reshape(-1).tolist(), "num_keypoints": int(keep > 0)})
    return out


def per_keypoint_ap(
    data: dict[str, Any],
    results: list[dict[str, Any]],
    names: Sequence[str],
    sigmas: np.ndarray,
) -> list[KeypointAP]:
    """The per-keypoint AP table of ``results`` (COCO keypoint results) against the ground
    truth ``data`` (a loaded COCO annotation file); ``names`` and ``sigmas`` of the keypoint
    set."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rows = []
    for j, name in enumerate(names):
        joint_anns = _one_joint(data.get("annotations", []), j)
        labelled = sum(a["num_keypoints"] > 0 and not a.get("iscrowd", 0) for a in joint_anns)
        if not labelled or not results:
            rows.append(KeypointAP(name, labelled, None, None, None, None))
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO()
            gt.dataset = {**data, "annotations": joint_anns}
            gt.createIndex()
            ev = COCOeval(gt, gt.loadRes(results), "keypoints")
            ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        s = [float(v) for v in ev.stats]
        rows.append(KeypointAP(name, labelled, s[0], s[1], s[2], s[5]))
    return rows


def format_table(rows: Sequence[KeypointAP]) -> str:
    """The rows as an aligned text table, worst AP first so missing points stand out."""
    width = max([len("keypoint"), *(len(r.name) for r in rows)])
    lines = [f"{'keypoint':<{width}}  labelled      AP    AP50    AP75      AR"]
    ordered = sorted(rows, key=lambda r: (r.ap is not None, r.ap if r.ap is not None else 0.0))
    for r in ordered:
        cells = "".join(f"  {v:6.3f}" if v is not None else "       -" for v in r.values()[2:])
        lines.append(f"{r.name:<{width}}  {r.labelled:8d}{cells}")
    return "\n".join(lines)


def write_csv(rows: Sequence[KeypointAP], path: str | Path) -> Path:
    """The table as CSV (``COLUMNS``; empty cells where a joint has no AP), in keypoint order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow(["" if v is None else (round(v, 4) if isinstance(v, float) else v)
                             for v in r.values()])  # fmt: skip
    return path
