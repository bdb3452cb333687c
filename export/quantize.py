"""Static INT8 quantization of ONNX buckets with ONNX Runtime's tools, calibrated on real
person crops.

Calibration crops are the ground-truth persons of a COCO root's training split, cut and
normalised by ``PosePipeline.preprocess`` exactly as the service will (flip is inside the graph).
MinMax ranges are collected once on one bucket and reused for the others when their graphs have
the same tensor names (they differ only in the batch dimension), so every bucket gets the same
scales. Format QDQ, activations uint8 / weights int8 per channel: ONNX Runtime's recommendation
for x86 CPUs, where VNNI runs the uint8 x int8 products.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simplepose.config.model_info import Bucket, ModelInfo
from simplepose.export.deconv_rewrite import convtranspose_as_convs
from simplepose.export.onnx_graph import import_onnx, tensor_names
from simplepose.pose.pipeline import PosePipeline, read_image

log = logging.getLogger(__name__)

CALIBRATION_SPLIT = "train2017"
QUANT_OPSET = 13  # per-channel QDQ needs DequantizeLinear's axis (opset 13); MindSpore writes 11
CALIBRATION_PERSONS = 64  # a multiple of every default bucket: calls are never padded
MIN_BOX_SIDE = 8.0  # pixels; smaller boxes are not persons a pose model is used on


@dataclass(frozen=True)
class _Description:
    """What ``PosePipeline.preprocess`` reads of a model: its description. Calibration crops
    are cut before any graph exists to run them."""

    info: ModelInfo

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise TypeError("calibration only prepares crops; it runs no model through the pipeline")


def calibration_crops(
    root: Path, info: ModelInfo, persons: int = CALIBRATION_PERSONS, split: str = CALIBRATION_SPLIT
) -> np.ndarray:
    """``(persons, 3, H, W)`` float32 crops of annotated persons of ``root``'s ``split``, spread
    evenly over its annotations (deterministic)."""
    from pycocotools.coco import COCO

    ann_file = Path(root) / "annotations" / f"person_keypoints_{split}.json"
    if not ann_file.is_file():
        raise FileNotFoundError(f"calibration data: {ann_file} not found (need a COCO root)")
    coco = COCO(str(ann_file))
    anns = [
        a
        for a in coco.loadAnns(coco.getAnnIds(catIds=[1], iscrowd=False))
        if a.get("num_keypoints", 0) > 0 and min(a["bbox"][2:]) >= MIN_BOX_SIDE
    ]
    if not anns:
        raise ValueError(f"calibration data: no annotated persons in {ann_file}")
    picked = [anns[i] for i in np.linspace(0, len(anns) - 1, persons).round().astype(int)]
    pipeline = PosePipeline(_Description(info))
    crops = []
    for ann in picked:
        image = read_image(str(Path(root) / split / coco.imgs[ann["image_id"]]["file_name"]))
        crops.append(pipeline.preprocess(image, np.array([ann["bbox"]], np.float64)).batch)
    return np.concatenate(crops)


class _CropReader:
    """ONNX Runtime's calibration data reader over ``crops``: whole ``batch``-sized chunks, then
    ``None``. ``CalibrationDataReader`` accepts any class with ``get_next`` (its
    ``__subclasshook__``), so this needs no ONNX Runtime import."""

    def __init__(self, crops: np.ndarray, batch: int, input_name: str) -> None:
        self._input_name = input_name
        self._batches = iter(
            [crops[i : i + batch] for i in range(0, len(crops), batch) if i + batch <= len(crops)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        chunk = next(self._batches, None)
        return None if chunk is None else {self._input_name: chunk}


def _prepared(path: Path, scratch: Path) -> Path:
    """``path`` upgraded to ``QUANT_OPSET`` and through ONNX Runtime's quantization
    pre-processing (shape inference; BatchNorm folded into the convolutions, so the INT8 graph
    quantizes the fused weights the FP32 session would run)."""
    onnx = import_onnx("onnx")
    converter = import_onnx("onnx.version_converter")
    shape = import_onnx("onnxruntime.quantization.shape_inference")
    upgraded = scratch / f"{path.stem}.opset{QUANT_OPSET}.onnx"
    onnx.save(converter.convert_version(onnx.load(str(path)), QUANT_OPSET), str(upgraded))
    prepared = scratch / f"{path.stem}.prepared.onnx"
    shape.quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)  # static
    model = onnx.load(str(prepared))
    if convtranspose_as_convs(model):  # ONNX Runtime has no int8 ConvTranspose kernel on CPU
        onnx.save(model, str(prepared))
    return prepared


def quantize_buckets(
    directory: Path,
    info: ModelInfo,
    fp32: list[Bucket],
    calibration_root: Path,
    persons: int | None = None,
) -> tuple[list[Bucket], dict[str, Any]]:
    """Write an INT8 copy of every FP32 ONNX bucket; return the new buckets and what
    ``model.json`` records about the calibration."""
    ort = import_onnx("onnxruntime")
    quantization = import_onnx("onnxruntime.quantization")
    persons = persons or CALIBRATION_PERSONS
    if not fp32:
        raise ValueError("INT8 quantization needs FP32 ONNX buckets to start from")
    crops = calibration_crops(calibration_root, info, persons)
    if len(crops) < max(b.batch_size for b in fp32):
        raise ValueError(f"{len(crops)} calibration crops cannot fill the largest bucket")
    int8 = []
    with tempfile.TemporaryDirectory(prefix=".calib-", dir=directory) as tmp:
        for bucket in sorted(fp32, key=lambda b: -b.batch_size):  # largest: fewest calls
            source = _prepared(directory / bucket.file, Path(tmp))
            names = hashlib.sha256("\n".join(tensor_names(source)).encode()).hexdigest()[:16]
            session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
            input_name = session.get_inputs()[0].name
            del session
            target = Bucket(Bucket.file_name("onnx", bucket.batch_size, "int8"), "onnx",
                            bucket.batch_size, "int8")  # fmt: skip
            quantization.quantize_static(
                str(source),
                str(directory / target.file),
                _CropReader(crops, bucket.batch_size, input_name),
                quant_format=quantization.QuantFormat.QDQ,
                per_channel=True,
                activation_type=quantization.QuantType.QUInt8,
                weight_type=quantization.QuantType.QInt8,
                calibrate_method=quantization.CalibrationMethod.MinMax,
                calibration_cache_path=Path(tmp) / f"ranges-{names}.json",
            )
            log.info("INT8 bucket %d written", bucket.batch_size)
            int8.append(target)
    record = {
        "method": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "activations": "uint8",
        "weights": "int8 per channel",
        "calibration": "MinMax",
        "calibration_root": str(Path(calibration_root).resolve()),
        "calibration_split": CALIBRATION_SPLIT,
        "calibration_persons": int(len(crops)),
        "onnxruntime_version": ort.__version__,
    }
    return sorted(int8, key=lambda b: b.batch_size), record
