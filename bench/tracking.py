"""Tracking accuracy on clips with known identities (py-motmetrics: MOTA, IDF1, id switches).

Clips come from real coco-mini images seen through a moving virtual camera (pan back and forth
past the edges so persons leave and re-enter, zoom, small rotation; bench/_virtual_camera.py).
The tracker runs exactly as in the product (``simplepose.video.track_pipeline.TrackingPipeline``:
flow boxes + detections merged by NMS, OKS/IoU matching), with the detector = the ground-truth
boxes of the persons in view, on every frame or every 5th, and poses from

  (a) perfect keypoints: each box gets the ground-truth pose of the person it overlaps most;
  (b) the real pipeline with perfect heatmaps: real crops of each box, Gaussian heatmaps of the
      ground truth in that crop, real DARK decoding, back-projection and rescoring.

A hypothesis matches a ground-truth person when their OKS (ground-truth visible joints and
area) is >= 0.5. Pan speeds are fractions of the frame width per frame.

    python bench/tracking.py --data ../shared/data/coco-mini

Last line: {"results": [{"mode", "detect_every", "speed", "mota", "idf1", "switches", ...}], ...}
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import cv2
import motmetrics as mm
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402
from _virtual_camera import Clip, GroundTruth, coco_persons, make_clip  # noqa: E402

from simplepose.config.loading import load_config  # noqa: E402
from simplepose.config.model_info import ModelInfo  # noqa: E402
from simplepose.pose.codec import HeatmapCodec  # noqa: E402
from simplepose.pose.geometry import affine_matrices, box_to_center_scale, clip_boxes  # noqa: E402
from simplepose.pose.persons import oks_between, rescore  # noqa: E402
from simplepose.pose.pipeline import Crops, Persons, PosePipeline  # noqa: E402
from simplepose.video.frames import Frame  # noqa: E402
from simplepose.video.track_pipeline import TrackingPipeline  # noqa: E402
from simplepose.video.tracker import box_iou  # noqa: E402

MIN_IOU = 0.3  # a box "sees" the ground-truth person it overlaps most, above this IoU
MATCH_OKS = 0.5  # MOT matching threshold on OKS
SPEEDS = (0.02, 0.05, 0.10)


class Scene:
    """The current frame's ground truth, read by the oracles."""

    truth: GroundTruth

    def owner(self, boxes: np.ndarray) -> np.ndarray:
        """Index of the ground-truth person each box overlaps most (-1: none above MIN_IOU)."""
        if not len(self.truth.ids) or not len(boxes):
            return np.full(len(boxes), -1)
        iou = box_iou(boxes, self.truth.boxes)
        return np.where(iou.max(1) > MIN_IOU, iou.argmax(1), -1)


class KeypointOracle(PosePipeline):
    """(a): the pipeline's interface, with each box's pose taken from the ground truth."""

    def __init__(self, info: ModelInfo, scene: Scene):
        self.info, self.scene = info, scene
        self.keypoints = info.keypoints
        self.in_vis_thre, self.oks_thre = 0.2, 0.9

    def preprocess(self, image_bgr, boxes=None, box_scores=None) -> Crops:
        h, w = image_bgr.shape[:2]
        boxes = clip_boxes(boxes, w, h)
        (in_w, in_h), padding = self.info.model.input_size, self.info.config.data.box_padding
        centers, scales = box_to_center_scale(boxes, in_w / in_h, padding)
        return Crops(np.arange(len(boxes)), boxes, np.asarray(box_scores), centers, scales, (w, h))

    def postprocess(self, outputs, crops: Crops, nms: bool = False) -> Persons:
        owner = self.scene.owner(crops.boxes)
        kps = np.zeros((len(owner), 17, 3))
        kps[owner >= 0] = self.scene.truth.keypoints[owner[owner >= 0]]
        scores = rescore(kps[..., 2], crops.box_scores, self.in_vis_thre)
        return Persons(kps, scores, crops.boxes, crops.box_scores, crops.centers, crops.scales)


class HeatmapOracle:
    """(b): ``submit`` for the real pipeline that answers each crop with the perfect heatmaps
    of the ground-truth person its box overlaps most."""

    def __init__(self, pipeline: PosePipeline, scene: Scene):
        self.scene = scene
        m = pipeline.info.model
        self.m = m
        self.codec = HeatmapCodec(m.input_size, m.heatmap_size, m.sigma, unbiased=True)
        self.crops: dict[int, Crops] = {}
        original = pipeline.preprocess

        def preprocess(image, boxes=None, scores=None) -> Crops:
            crops = original(image, boxes, scores)
            self.crops[id(crops.batch)] = crops
            return crops

        pipeline.preprocess = preprocess  # type: ignore[method-assign]

    def __call__(self, batch: np.ndarray) -> Future:
        crops = self.crops.pop(id(batch))
        owner = self.scene.owner(crops.boxes)
        gt = self.scene.truth.keypoints
        kps = np.zeros((len(owner), 17, 3))
        kps[owner >= 0] = gt[owner[owner >= 0]]
        mats = affine_matrices(crops.centers, crops.scales, 0.0, self.m.input_size)
        xy = np.einsum("nij,nkj->nki", mats[:, :, :2], kps[..., :2]) + mats[:, None, :, 2]
        heatmaps, _ = self.codec.encode(xy, kps[..., 2])
        future: Future = Future()
        future.set_result(heatmaps)
        return future


def run_clip(clip: Clip, mode: str, detect_every: int, config) -> mm.MOTAccumulator:
    scene = Scene()
    info = ModelInfo(config=config, flip_fused=False)
    track = config.track.__class__(**{**config.track.__dict__, "detect_every": detect_every})

    def detect(image):  # noqa: ANN001, ANN202 - the detector: ground-truth boxes in view
        return scene.truth.boxes, np.ones(len(scene.truth.ids))

    if mode == "keypoints":
        pipeline = KeypointOracle(info, scene)
        tracker = TrackingPipeline(pipeline, detect, track, submit=_identity)
    else:
        pipeline = PosePipeline(_NoModel(info), decode="dark", flip=False)
        tracker = TrackingPipeline(pipeline, detect, track, submit=HeatmapOracle(pipeline, scene))
    acc = mm.MOTAccumulator(auto_id=True)
    for index, (image, truth) in enumerate(zip(clip.frames, clip.truth, strict=True)):
        scene.truth = truth
        out = tracker.step(Frame(index, index / 30.0, image))
        hyp = out.persons.keypoints
        visible = np.broadcast_to(
            truth.keypoints[:, None, :, 2] > 0, (len(truth.ids), len(hyp), 17)
        )
        sigmas = config.keypoints.sigma_array()
        oks = oks_between(truth.keypoints, hyp, truth.areas[:, None], sigmas, visible)
        dist = np.where(oks >= MATCH_OKS, 1.0 - oks, np.nan)
        acc.update(truth.ids.tolist(), out.track_ids.tolist(), dist)
    return acc


class _NoModel:
    def __init__(self, info: ModelInfo):
        self.info = info

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("the heatmap oracle answers through submit")


def _identity(batch: np.ndarray) -> Future:
    future: Future = Future()
    future.set_result(batch)
    return future


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    parser.add_argument("--split", default="val2017")
    parser.add_argument("--images", type=int, default=8, help="clips per speed")
    parser.add_argument("--preset", default="res50_256x192", help="crop/heatmap geometry of (b)")
    args = parser.parse_args()
    config = load_config(args.preset)
    sources = list(coco_persons(args.data, args.split, 2, 5))[: args.images]
    images = [(cv2.imread(str(p)), anns, p.stem) for p, anns in sources]
    clips = {s: [make_clip(img, anns, s, f"{n}@{s}") for img, anns, n in images] for s in SPEEDS}
    metrics = ["mota", "idf1", "num_switches", "num_frames", "num_objects", "num_false_positives",
               "num_misses"]  # fmt: skip
    results = []
    start = time.perf_counter()
    for mode in ("keypoints", "heatmaps"):
        for detect_every in (1, 5):
            for speed in SPEEDS:
                t0 = time.perf_counter()
                accs = [run_clip(c, mode, detect_every, config) for c in clips[speed]]
                summary = mm.metrics.create().compute_many(
                    accs, metrics=metrics, names=[c.name for c in clips[speed]],
                    generate_overall=True,
                )  # fmt: skip
                row = summary.loc["OVERALL"]
                results.append({
                    "mode": mode, "detect_every": detect_every, "speed": speed,
                    "mota": round(float(row["mota"]), 4), "idf1": round(float(row["idf1"]), 4),
                    "switches": int(row["num_switches"]), "frames": int(row["num_frames"]),
                    "objects": int(row["num_objects"]), "misses": int(row["num_misses"]),
                    "false_positives": int(row["num_false_positives"]),
                    "seconds": round(time.perf_counter() - t0, 1),
                })  # fmt: skip
                r = results[-1]
                print(
                    f"{mode:9s} detect every {detect_every}  pan {speed:.0%}/frame: "
                    f"MOTA {r['mota']:.3f}  IDF1 {r['idf1']:.3f}  id switches {r['switches']}  "
                    f"({r['frames']} frames, {r['objects']} person-frames, {r['misses']} missed, "
                    f"{r['false_positives']} false)"
                )
    goal = all(
        r["switches"] == 0 for r in results if r["mode"] == "keypoints" and r["detect_every"] == 1
    )
    print(json.dumps({
        "results": results, "clips_per_speed": len(images), "split": args.split,
        "goal_zero_switches_perfect_keypoints": goal,
        "seconds": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
