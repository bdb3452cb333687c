"""One image + person boxes -> keypoints. Used by ``evaluate``, ``predict`` and the service.

NumPy/OpenCV only: the model is any callable that maps a batch of normalised crops
``(N, 3, H, W)`` float32 to heatmaps ``(N, K, h, w)`` (see ``HeatmapModel``). The three steps are
separate so the service can batch the middle one across requests:

    crops = pipeline.preprocess(image, boxes)          # geometry, normalisation
    heatmaps = pipeline.infer(crops.batch)             # the model (flip test if not fused)
    persons = pipeline.postprocess(heatmaps, crops)    # decode, back-projection, rescoring, NMS
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import cv2
import numpy as np

from simplepose.config.model_info import ModelInfo
from simplepose.config.presets import Config, ModelConfig
from simplepose.pose.codec import DECODE_METHODS, HeatmapCodec, flip_back
from simplepose.pose.geometry import (
    box_to_center_scale,
    clip_boxes,
    clip_keypoints,
    crop_images,
    heatmap_to_image,
)
from simplepose.pose.persons import oks_nms, rescore, scale_areas

PIXEL_MAX = 255.0


class HeatmapModel(Protocol):
    """What the pipeline needs of a model: its description (read only) and a batch call."""

    @property
    def info(self) -> ModelInfo: ...

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Crops:
    """Preprocessed persons of one image. ``batch`` is ``(N, 3, H, W)`` float32."""

    batch: np.ndarray
    boxes: np.ndarray  # (N, 4) xywh after clipping to the image
    box_scores: np.ndarray  # (N,)
    centers: np.ndarray  # (N, 2)
    scales: np.ndarray  # (N, 2)
    image_size: tuple[int, int]  # (w, h) of the image, to clip keypoints to it


@dataclass(frozen=True)
class Persons:
    """Result for one image, in image pixels. Rows are persons, sorted by ``scores``.

    Keypoint positions are clipped to the image (``geometry.clip_keypoints``): x in
    ``[0, W-1]``, y in ``[0, H-1]``, also where the padded crop reaches beyond the image.
    """

    keypoints: np.ndarray  # (N, K, 3): x, y, score
    scores: np.ndarray  # (N,) rescored person score
    boxes: np.ndarray  # (N, 4) xywh as used for cropping
    box_scores: np.ndarray  # (N,)
    centers: np.ndarray  # (N, 2)
    scales: np.ndarray  # (N, 2)

    def __len__(self) -> int:
        return len(self.scores)


def normalise_crops(crops_bgr: np.ndarray, model: ModelConfig) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 BGR crops -> ``(N, 3, H, W)`` float32 network input: channels in
    ``model.channel_order``, minus ``model.mean``, over ``model.std`` (scaled by 255), applied to
    channel positions 0, 1, 2 as given (MSRA's BGR weights expect exactly this).

    Training and inference both call this, so they normalise identically. The channels are
    reordered and moved to the front while still uint8 (one byte per value to shuffle), then
    converted once and scaled in place: the same float32 arithmetic as
    ``(x - mean) * inv_std`` on the float array, at a fraction of the memory traffic (it is the
    service's largest per-person cost outside the model).
    """
    channels = crops_bgr[..., ::-1] if model.channel_order == "RGB" else crops_bgr
    out = np.ascontiguousarray(channels.transpose(0, 3, 1, 2)).astype(np.float32)
    mean = np.asarray(model.mean, dtype=np.float32) * PIXEL_MAX
    inv_std = 1.0 / (np.asarray(model.std, dtype=np.float32) * PIXEL_MAX)
    out -= mean[:, None, None]
    out *= inv_std[:, None, None]
    return out


@dataclass(frozen=True)
class InferenceParams:
    """How one model's outputs become persons. Every value comes from the model's own config
    (``config.test``, and ``config.data.box_padding`` for the crop) unless overridden."""

    decode: str
    flip: bool
    in_vis_thre: float  # joints scoring above this count towards the person score
    oks_thre: float  # OKS NMS threshold
    box_padding: float  # context margin around each person box

    @classmethod
    def from_config(cls, config: Config, **overrides: object) -> InferenceParams:
        """``config``'s values; an override that is not ``None`` replaces one of them."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown inference parameters {unknown}; allowed: {sorted(names)}")
        test = config.test
        values: dict[str, object] = {
            "decode": test.decode,
            "flip": test.flip_test,
            "in_vis_thre": test.in_vis_thre,
            "oks_thre": test.oks_thre,
            "box_padding": config.data.box_padding,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def whole_image_box(width: int, height: int) -> np.ndarray:
    """The ``(1, 4)`` box used when a request names no person boxes."""
    return np.array([[0.0, 0.0, float(width), float(height)]])


class PosePipeline:
    """Top-down pose estimation around one ``HeatmapModel``.

    Every parameter left ``None`` comes from the model's own config (``InferenceParams``), so
    ``evaluate``, ``predict`` and the service run a model with the thresholds it was made with.

    Args:
        model: the network runner; its ``info`` fixes input size, channel order and mean/std.
        decode: ``"argmax"``, ``"quarter"`` or ``"dark"``.
        flip: run the flip test. With a flip-fused model it is always on; otherwise it costs a
            second model call per batch.
        in_vis_thre: joint-score threshold of the person rescoring.
        oks_thre: OKS NMS threshold (used when ``postprocess(..., nms=True)``).
        box_padding: context margin around each person box.
    """

    def __init__(
        self,
        model: HeatmapModel,
        decode: str | None = None,
        flip: bool | None = None,
        in_vis_thre: float | None = None,
        oks_thre: float | None = None,
        box_padding: float | None = None,
    ):
        info = model.info
        if info.flip_fused and flip is False:
            raise ValueError(
                "this model has the flip test fused into its graph; it cannot run without it"
            )
        if info.flip_fused:
            flip = True  # the graph does it, whatever the config asks
        params = InferenceParams.from_config(
            info.config, decode=decode, flip=flip, in_vis_thre=in_vis_thre, oks_thre=oks_thre,
            box_padding=box_padding,
        )  # fmt: skip
        if params.decode not in DECODE_METHODS:
            raise ValueError(f"decode must be one of {DECODE_METHODS}, got {params.decode!r}")
        self.model = model
        self.info = info
        self.params = params
        self.decode = params.decode
        self.flip = params.flip
        self.in_vis_thre = params.in_vis_thre
        self.oks_thre = params.oks_thre
        self.box_padding = params.box_padding
        m = info.model
        self.codec = HeatmapCodec(m.input_size, m.heatmap_size, m.sigma)
        self.keypoints = info.config.keypoints  # flip pairs and OKS sigmas of the outputs

    def preprocess(
        self,
        image_bgr: np.ndarray,
        boxes: np.ndarray | None = None,
        box_scores: np.ndarray | None = None,
    ) -> Crops:
        """Crop and normalise the persons of one ``(H, W, 3)`` uint8 BGR image.

        ``boxes`` ``(N, 4)`` xywh in image pixels (``None``: the whole image is one person).
        Boxes are clipped to the image; unusable ones raise ``geometry.BoxError``.
        """
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3) BGR, got shape {image_bgr.shape}")
        height, width = image_bgr.shape[:2]
        if boxes is None:
            boxes = whole_image_box(width, height)
        boxes = clip_boxes(boxes, width, height)
        scores = np.ones(len(boxes)) if box_scores is None else np.asarray(box_scores, np.float64)
        if scores.shape != (len(boxes),):
            raise ValueError(f"got {len(scores)} box scores for {len(boxes)} boxes")
        m = self.info.model
        centers, scales = box_to_center_scale(
            boxes, m.input_size[0] / m.input_size[1], self.box_padding
        )
        crops = crop_images(image_bgr, centers, scales, m.input_size)
        return Crops(self.normalise(crops), boxes, scores, centers, scales, (width, height))

    def normalise(self, crops_bgr: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 BGR -> ``(N, 3, H, W)`` float32 in the model's channel order."""
        return normalise_crops(crops_bgr, self.info.model)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Model output for a batch; adds the flip test here when the graph does not fuse it."""
        if len(batch) == 0:
            return self._empty_output()
        out = self.model(batch)
        if self.flip and not self.info.flip_fused:
            flipped = self.model(np.ascontiguousarray(batch[..., ::-1]))
            out = (out + flip_back(flipped, self.keypoints.flip_index())) * 0.5
        return out

    def _empty_output(self) -> np.ndarray:
        m = self.info.model
        if self.info.outputs == "keypoints":
            return np.zeros((0, m.num_joints, 3), np.float32)
        return np.zeros((0, m.num_joints, m.heatmap_size[1], m.heatmap_size[0]), np.float32)

    def decode_outputs(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model outputs -> heatmap-pixel coordinates ``(N, K, 2)`` and scores ``(N, K)``."""
        if self.info.outputs == "keypoints":
            return outputs[..., :2].astype(np.float64), outputs[..., 2].astype(np.float64)
        return self.codec.decode(outputs, self.decode)

    def postprocess(self, outputs: np.ndarray, crops: Crops, nms: bool = False) -> Persons:
        """Decode, map back to the image (clipped to it), rescore, optionally OKS-NMS; sorted
        by score."""
        coords, maxvals = self.decode_outputs(outputs)
        xy = heatmap_to_image(coords, crops.centers, crops.scales, self.info.model.heatmap_size)
        xy = clip_keypoints(xy, *crops.image_size)
        keypoints = np.concatenate([xy, maxvals[..., None]], axis=-1)
        scores = rescore(maxvals, crops.box_scores, self.in_vis_thre)
        if nms and len(scores):
            areas = scale_areas(crops.scales)
            sigmas = self.keypoints.sigma_array()
            order = oks_nms(keypoints, scores, areas, self.oks_thre, sigmas)
        else:
            order = np.argsort(-scores, kind="stable")
        return Persons(
            keypoints=keypoints[order],
            scores=scores[order],
            boxes=crops.boxes[order],
            box_scores=crops.box_scores[order],
            centers=crops.centers[order],
            scales=crops.scales[order],
        )

    def __call__(
        self,
        image_bgr: np.ndarray,
        boxes: np.ndarray | None = None,
        box_scores: np.ndarray | None = None,
        nms: bool = False,
    ) -> Persons:
        crops = self.preprocess(image_bgr, boxes, box_scores)
        return self.postprocess(self.infer(crops.batch), crops, nms=nms)


def read_image(path: str) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 BGR, honouring EXIF orientation."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {path}: missing, unreadable or not an image")
    return image
