"""Pictures of a finished run, written into its directory: ``results.png`` (training loss,
learning rate and validation AP against the global step, from ``metrics.jsonl``) and
``predictions.jpg`` (a grid of validation images with the skeletons the run's checkpoint
predicts in the ground-truth person boxes, drawn by ``simplepose.drawing``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from simplepose.drawing import draw_persons
from simplepose.training.coco import DataSource
from simplepose.training.run_dir import (
    BEST_CKPT,
    LAST_CKPT,
    METRICS_FILE,
    PREDICTIONS_JPG,
    RESULTS_PNG,
    read_metrics,
)

log = logging.getLogger(__name__)
FIGURE_SIZE = (12.0, 3.6)  # inches; at FIGURE_DPI: 1200 x 360 pixels
FIGURE_DPI = 100
GRID_IMAGES = 8
GRID_COLUMNS = 4
CELL = 320  # pixels: each image is fitted into a CELL x CELL square
JPEG_QUALITY = 85


def write_report(run_dir: str | Path, data_root: DataSource, split: str) -> list[Path]:
    """``results.png`` and ``predictions.jpg`` of the run in ``run_dir`` (the predictions of
    ``best.ckpt``, else ``last.ckpt``, on the first images of ``split``); returns the paths."""
    run_dir = Path(run_dir)
    written = [plot_results(run_dir / METRICS_FILE, run_dir / RESULTS_PNG)]
    checkpoint = run_dir / BEST_CKPT
    if not checkpoint.is_file():
        checkpoint = run_dir / LAST_CKPT
    if checkpoint.is_file():
        written.append(prediction_grid(checkpoint, data_root, split, run_dir / PREDICTIONS_JPG))
    log.info("run report: %s", ", ".join(str(p) for p in written))
    return written


def _curves(records: list[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    curves: dict[str, tuple[list[int], list[float]]] = {"loss": ([], []), "lr": ([], []),
                                                       "val_ap": ([], [])}  # fmt: skip
    for r in records:
        if r.get("kind") == "step":
            for key in ("loss", "lr"):
                curves[key][0].append(r["global_step"])
                curves[key][1].append(r[key])
        elif r.get("kind") == "epoch" and r.get("val_ap") is not None:
            curves["val_ap"][0].append(r["global_step"])
            curves["val_ap"][1].append(r["val_ap"])
    return curves


def plot_results(metrics: Path, output: Path) -> Path:
    """Plot the loss, learning-rate and AP curves of ``metrics`` (``metrics.jsonl``) to ``output``
    (PNG, ``FIGURE_SIZE`` x ``FIGURE_DPI`` pixels)."""
    import matplotlib

    matplotlib.use("Agg")  # no display; a no-op when already selected
    from matplotlib import pyplot as plt

    curves = _curves(read_metrics(metrics))
    fig, axes = plt.subplots(1, 3, figsize=FIGURE_SIZE, dpi=FIGURE_DPI)
    panels = (
        ("loss", "training loss (JointsMSE)", "linear"),
        ("lr", "learning rate", "log"),
        ("val_ap", "validation AP (COCO OKS)", "linear"),
    )
    for ax, (key, title, scale) in zip(axes, panels, strict=True):
        steps, values = curves[key]
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("global step")
        ax.grid(alpha=0.3)
        if not steps:
            ax.text(0.5, 0.5, "no values" if key != "val_ap" else "no validation (--val-split)",
                    ha="center", va="center", transform=ax.transAxes)  # fmt: skip
            continue
        style = "steps-post" if key == "lr" else "default"  # the lr changes in steps
        ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3,
                drawstyle=style)  # fmt: skip
        ax.set_yscale(scale)
        if key == "val_ap":
            ax.set_ylim(0.0, 1.0)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=FIGURE_DPI)
    plt.close(fig)
    return output


def prediction_grid(
    checkpoint: Path, data_root: DataSource, split: str, output: Path, count: int = GRID_IMAGES
) -> Path:
    """Draw ``checkpoint``'s predictions in the ground-truth person boxes of the first ``count``
    images of ``split`` that have persons, tiled ``GRID_COLUMNS`` wide, into ``output`` (JPEG)."""
    from simplepose.pose.pipeline import PosePipeline, read_image
    from simplepose.runtime.model_loader import load_model
    from simplepose.training.coco import data_category, gt_boxes, image_dir, load_annotations

    model = load_model(checkpoint)
    pipeline = PosePipeline(model)
    keypoints = model.info.keypoints
    data = load_annotations(data_root, split)
    category = data_category(data_root, data, keypoints)
    boxes = gt_boxes(data, image_dir(data_root, split), category)
    items = [it for _, it in sorted(boxes.items())]
    cells = []
    for item in [it for it in items if len(it.boxes)][:count]:
        try:
            image = read_image(str(item.image_path))
            persons = pipeline(image, item.boxes, item.scores, nms=True)
        except ValueError as exc:  # unreadable image, box outside it: leave the image out
            log.warning("prediction grid: %s", exc)
            continue
        drawn = draw_persons(image, persons.keypoints, persons.boxes,
                             model.info.config.test.in_vis_thre, keypoint_set=keypoints)  # fmt: skip
        cells.append(_fit(drawn, CELL))
    if not cells:
        raise ValueError(f"no image of {split} with persons to draw predictions on")
    return _save_grid(cells, output)


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` scaled to fit a ``size`` x ``size`` grey square, centred."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    cell = np.full((size, size, 3), 64, np.uint8)
    y, x = (size - nh) // 2, (size - nw) // 2
    cell[y : y + nh, x : x + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return cell


def _save_grid(cells: list[np.ndarray], output: Path) -> Path:
    columns = min(GRID_COLUMNS, len(cells))
    rows = -(-len(cells) // columns)
    blank = np.full_like(cells[0], 64)
    cells = cells + [blank] * (rows * columns - len(cells))
    grid = np.vstack([np.hstack(cells[r * columns : (r + 1) * columns]) for r in range(rows)])
    output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(output), grid, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f"cannot write {output}")
    return output
