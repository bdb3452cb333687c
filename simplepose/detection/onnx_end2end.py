"""ONNX person detectors run with ONNX Runtime: mmdeploy ``end2end.onnx`` and YOLOX raw exports.

mmdeploy's format (YOLOX / RTMDet "onnx_sdk" packages, e.g. the person detectors rtmlib uses):
one input ``(B, 3, H, W)`` float32 (pixels minus the spec's mean over its std), the image
letterboxed into the top-left of ``H x W``; NMS inside the graph; outputs ``dets``
``(B, N, 5)`` = x1, y1, x2, y2, score in input pixels and ``labels`` ``(B, N)`` int. A graph
with one ``(B, A, 5 + C)`` output instead is a Megvii YOLOX raw export, decoded by
``yolox_raw``. Boxes are mapped back to the image, thresholded, clipped and NMS'd here
(``BoxFilter``), and only the person class is kept.

On an Ascend host ONNX Runtime runs the graph on the NPU through its CANN execution provider
(PyPI ``onnxruntime-cann``, which replaces ``onnxruntime``); elsewhere on the CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simplepose.detection.base import Detections, DetectorInfo
from simplepose.detection.box_ops import BoxFilter, Letterbox, filter_boxes, letterbox
from simplepose.detection.spec import MAX_GRAPH_SIDE, End2EndSpec
from simplepose.detection.yolox_raw import YoloxDecoder, is_yolox_raw

log = logging.getLogger(__name__)

CANN_PROVIDER = "CANNExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
DETS_OUTPUT, LABELS_OUTPUT = "dets", "labels"
MISSING_SIZE_HELP = (
    "give it with --detector-input-size WIDTHxHEIGHT (and --detector-mean/--detector-std/"
    "--detector-channel-order for a normalised graph; service: SIMPLEPOSE_DETECTOR_INPUT_SIZE "
    "etc.), or put mmdeploy's pipeline.json (tools/deploy.py --dump-info) beside the graph"
)


class DetectorLoadError(ValueError):
    """A detector file that is missing, not ONNX, or not in the end2end format."""


class DetectorUnavailable(DetectorLoadError):
    """A named detector that cannot be obtained here (offline, unreachable, no onnxruntime);
    ``reason`` is the short why, for the fallback's label."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


def execution_providers(device: str = "auto") -> list[str]:
    """ONNX Runtime providers for ``device``: ``CPU``, ``Ascend`` (CANN, error when this
    onnxruntime has no CANN provider) or ``auto`` (CANN when available, else CPU)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "CPU":
        return [CPU_PROVIDER]
    if CANN_PROVIDER in available:
        return [CANN_PROVIDER, CPU_PROVIDER]
    if device == "Ascend":
        raise DetectorLoadError(
            "this onnxruntime has no CANNExecutionProvider; on an Ascend host install "
            "onnxruntime-cann in place of onnxruntime (pip uninstall onnxruntime && pip install "
            f"onnxruntime-cann); available: {', '.join(available)}"
        )
    return [CPU_PROVIDER]


def _static_dim(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class OnnxEnd2EndDetector:
    """An mmdeploy end2end person detector. ``name``/``label`` identify it in responses."""

    def __init__(
        self,
        path: str | Path,
        name: str,
        spec: End2EndSpec | None = None,
        rules: BoxFilter | None = None,
        device: str = "auto",
        label: str | None = None,
    ):
        try:
            import onnxruntime as ort
        except ImportError as exc:  # the [onnx] extra
            raise DetectorUnavailable(
                "the ONNX detector needs onnxruntime: pip install 'simplepose[onnx]'"
            ) from exc
        path = Path(path)
        if not path.is_file():
            raise DetectorLoadError(f"detector graph {path} does not exist")
        self.spec = spec or End2EndSpec()
        self.rules = rules or self.spec.rules or BoxFilter()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=execution_providers(device)
            )
        except DetectorLoadError:
            raise
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise DetectorLoadError(f"{path} is not a loadable ONNX graph: {exc}") from exc
        self._check_graph(path)
        provider = self.session.get_providers()[0].removesuffix("ExecutionProvider")
        self.info = DetectorInfo(
            name=name,
            label=label or f"{name} (onnxruntime {provider})",
            source=str(path),
            rules=self.rules,
        )

    def _check_graph(self, path: Path) -> None:
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise DetectorLoadError(f"{path}: expected one (B, 3, H, W) input, got {inputs}")
        shape = inputs[0].shape
        if _static_dim(shape[1]) not in (None, 3):
            raise DetectorLoadError(f"{path}: input has {shape[1]} channels, expected 3")
        self.input_name = inputs[0].name
        self.batch = _static_dim(shape[0])  # None: any batch size
        size = self.spec.input_size
        graph_size = (_static_dim(shape[3]), _static_dim(shape[2]))
        if size is None:
            if None in graph_size:
                raise DetectorLoadError(
                    f"{path}: the graph has a dynamic input size and nothing says which size "
                    f"and normalisation it was trained with; {MISSING_SIZE_HELP}"
                )
            size = (int(graph_size[0]), int(graph_size[1]))  # type: ignore[arg-type]
        if not all(0 < s <= MAX_GRAPH_SIDE for s in size):
            raise DetectorLoadError(f"{path}: input size {size} out of range")
        self.input_size = size
        outputs = self.session.get_outputs()
        names = [o.name for o in outputs]
        self.yolox: YoloxDecoder | None = None
        if DETS_OUTPUT in names:
            self.output_names = [DETS_OUTPUT] + ([LABELS_OUTPUT] if LABELS_OUTPUT in names else [])
        elif len(outputs) == 1 and is_yolox_raw(list(outputs[0].shape), size):
            self.output_names = names
            self.yolox = YoloxDecoder(size, self.spec.person_label)
        else:
            raise DetectorLoadError(
                f"{path}: outputs {names} with shapes {[o.shape for o in outputs]} are neither "
                f"mmdeploy's end2end '{DETS_OUTPUT}' (+ '{LABELS_OUTPUT}', NMS inside) nor a "
                "YOLOX raw export's one (B, anchors, 5 + classes) output"
            )

    def prepare(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """One image -> ``(3, H, W)`` float32 graph input and its letterbox."""
        box = letterbox(image_bgr, self.input_size, self.spec.pad_value, self.spec.keep_ratio)
        pixels = box.canvas if self.spec.channel_order == "BGR" else box.canvas[..., ::-1]
        mean = np.asarray(self.spec.mean, np.float32)
        inv_std = 1.0 / np.asarray(self.spec.std, np.float32)
        x = (pixels.astype(np.float32) - mean) * inv_std
        return np.ascontiguousarray(x.transpose(2, 0, 1)), box

    def run(self, batch: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """The graph on ``(B, 3, H, W)`` (split into its static batch if it has one)."""
        step = self.batch or len(batch)
        out: list[tuple[np.ndarray, np.ndarray | None]] = []
        for start in range(0, len(batch), max(step, 1)):
            part = batch[start : start + step]
            real = len(part)
            if self.batch and real < self.batch:  # pad a static batch with blank images
                part = np.concatenate(
                    [part, np.zeros((self.batch - real, *part.shape[1:]), part.dtype)]
                )
            results = self.session.run(self.output_names, {self.input_name: part})
            dets = np.asarray(results[0])
            labels = np.asarray(results[1]) if len(results) > 1 else None
            if self.yolox is not None:
                try:
                    dets = np.stack([self.yolox(raw) for raw in dets])
                except ValueError as exc:
                    raise DetectorLoadError(f"graph output: {exc}") from exc
            if dets.ndim != 3 or dets.shape[0] != len(part) or dets.shape[2] != 5:
                raise DetectorLoadError(
                    f"graph output dets has shape {dets.shape}, expected (B, N, 5)"
                )
            for i in range(real):
                out.append((dets[i], None if labels is None else labels[i].reshape(-1)))
        return out

    def finish(
        self, raw: tuple[np.ndarray, np.ndarray | None], box: Letterbox, image_size: tuple[int, int]
    ) -> Detections:
        """Graph output of one image -> person ``Detections`` in image pixels."""
        dets, labels = raw
        if labels is not None:
            if len(labels) != len(dets):
                raise DetectorLoadError(f"{len(labels)} labels for {len(dets)} boxes")
            dets = dets[labels == self.spec.person_label]
        boxes, scores = filter_boxes(box.to_image(dets[:, :4]), dets[:, 4], image_size, self.rules)
        return Detections(boxes, scores, self.info.label, image_size)

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]:
        if not images_bgr:
            return []
        prepared = [self.prepare(image) for image in images_bgr]
        raw = self.run(np.stack([x for x, _ in prepared]))
        return [
            self.finish(r, box, (image.shape[1], image.shape[0]))
            for r, (_, box), image in zip(raw, prepared, images_bgr, strict=True)
        ]

    def detect(self, image_bgr: np.ndarray) -> Detections:
        return self.detect_batch([image_bgr])[0]
