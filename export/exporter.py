"""Export a pose checkpoint to a model directory: the main graph (``model.mindir`` or
``model.onnx``), optional static-shape bucket graphs (FP32, and INT8 for ONNX), and
``model.json`` listing them.

Every graph takes a batch of N normalised crops ``(N, 3, H, W)`` and returns ``(N, K, h, w)``
heatmaps with the flip test fused in (``simplepose.network.pose_net.FlipTestNet``), or ``(N, K,
3)`` keypoints when the decode is fused too (``export.decode_net``). The main MindIR graph takes
any N; ONNX graphs and buckets are exported at one fixed N (MindSpore refuses dynamic ONNX
export; static shapes are also what Ascend's GraphCell and ONNX Runtime run fastest).

Exporting buckets into a directory that already holds an export of the same checkpoint and
settings adds them to it, so MindIR and ONNX buckets can sit side by side.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import simplepose  # noqa: F401  (oneDNN CPU cap before MindSpore runs)
from simplepose.config.model_info import MODEL_FILES, MODEL_JSON, PRECISIONS, Bucket, ModelInfo
from simplepose.config.presets import Config
from simplepose.export.graph import build_export_graph
from simplepose.export.onnx_graph import import_onnx, strip_convtranspose_output_shape
from simplepose.hub.download import sha256_file
from simplepose.runtime.buckets import DEFAULT_BATCH_SIZES, check_batch_sizes

log = logging.getLogger(__name__)

EXPORT_FORMATS = tuple(MODEL_FILES)
ONNX_DEFAULT_BATCH = 1  # ONNX graphs have a fixed batch; the runtime pads/splits to it


def write_graph(graph, config: Config, fmt: str, batch_size: int | None, target: Path) -> Path:
    """Export ``graph`` at ``batch_size`` (``None``: dynamic, MindIR only) to ``target``.

    Written into a scratch dir first, so a failed export never leaves a half-written file.
    """
    import mindspore as ms

    w, h = config.model.input_size
    if batch_size is None:
        example = ms.Tensor(shape=[None, 3, h, w], dtype=ms.float32)  # dynamic batch
    else:
        example = ms.Tensor(np.zeros((batch_size, 3, h, w), np.float32))
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        stem = Path(tmp) / "model"
        ms.export(graph, example, file_name=str(stem), file_format=fmt.upper())
        written = stem.with_suffix("." + fmt)
        if not written.is_file():
            raise RuntimeError(f"MindSpore wrote no {written.name} for {target.name}")
        if fmt == "onnx":
            removed = strip_convtranspose_output_shape(written)
            log.info("removed output_shape from %d ConvTranspose nodes", removed)
        shutil.move(str(written), target)
    return target


def _same_export(old: ModelInfo, new: ModelInfo) -> bool:
    """Whether ``old`` (a directory's model.json) was exported from the same checkpoint with
    the same settings as ``new``, so their graphs may share the directory."""
    keys = ("source_sha256", "flip_fused", "outputs")
    return all(getattr(old, k) == getattr(new, k) for k in keys) and (
        old.config.to_dict() == new.config.to_dict()
    )


def _existing(output_dir: Path, info: ModelInfo) -> ModelInfo | None:
    """The directory's export to add buckets to, ``None`` if empty; ``ValueError`` if it holds
    another model (its graphs would be mixed with this one's)."""
    if not (output_dir / MODEL_JSON).is_file():
        return None
    old = ModelInfo.load(output_dir)
    if not _same_export(old, info):
        raise ValueError(
            f"{output_dir} holds an export of another checkpoint or with other settings "
            f"({old.source_checkpoint}); write buckets to an empty directory or to an export "
            "of the same checkpoint"
        )
    return old


def export_model(
    checkpoint: Path,
    output_dir: Path,
    config: Config | None = None,
    flip: bool = True,
    fmt: str = "mindir",
    fuse_decode: bool = False,
    batch_size: int | None = None,
    batch_sizes: Sequence[int] | None = None,
    quantize: str | None = None,
    calibration: Path | None = None,
    calibration_persons: int | None = None,
) -> ModelInfo:
    """Write the model directory ``output_dir``; return its info.

    Args:
        checkpoint: a pose ``.ckpt`` (its metadata carries the config; else pass ``config``).
        config: overrides the checkpoint's config (needed for checkpoints without metadata).
        flip: fuse the flip test (one 2N batch, flip back, pair swap, 1-px shift, mean).
        fmt: ``"mindir"`` (dynamic batch unless ``batch_size``) or ``"onnx"`` (fixed batch,
            ``batch_size`` or ``ONNX_DEFAULT_BATCH``).
        fuse_decode: the graph returns ``(N, K, 3)`` keypoints (argmax + quarter refinement).
        batch_size: fix the main graph's batch dimension (``None``: dynamic, MindIR only).
        batch_sizes: also write one static-shape ``fmt`` graph per size (buckets); added to an
            existing export of the same checkpoint in ``output_dir``.
        quantize: ``"int8"`` (ONNX only): also write static INT8 buckets calibrated on real
            person crops of ``calibration`` (a COCO root, its training split).
    """
    import mindspore as ms

    from simplepose.network.checkpoint import build_network

    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {EXPORT_FORMATS}, got {fmt!r}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch size must be >= 1 (or None for dynamic), got {batch_size}")
    if quantize is not None:
        if quantize not in PRECISIONS or quantize == "fp32":
            raise ValueError(f"--quantize must be int8, got {quantize!r}")
        if fmt != "onnx":
            raise ValueError("INT8 quantization is for ONNX Runtime: add --format onnx")
        if calibration is None:
            raise ValueError("INT8 quantization needs --calibration DATA_ROOT (real crops)")
        import_onnx("onnxruntime.quantization")  # fail before minutes of export
        batch_sizes = batch_sizes or DEFAULT_BATCH_SIZES
    sizes = check_batch_sizes(batch_sizes) if batch_sizes else ()
    if fmt == "onnx" and batch_size is None:
        batch_size = ONNX_DEFAULT_BATCH
    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    net, config, meta = build_network(checkpoint, config)
    graph = build_export_graph(net, config, flip=flip, fuse_decode=fuse_decode)
    info = ModelInfo(
        config=config,
        format=fmt,
        flip_fused=flip,
        outputs="keypoints" if fuse_decode else "heatmaps",
        batch_size=batch_size,
        source_checkpoint=str(checkpoint.resolve()),
        source_sha256=sha256_file(checkpoint),
        mindspore_version=ms.__version__,
        demo=bool(meta.get("demo", False)),
        extra={
            **{k: v for k, v in meta.items() if k not in ("config", "demo")},
            **({"fused_decode": "quarter"} if fuse_decode else {}),
        },
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    old = _existing(output_dir, info) if sizes else None
    # MindSpore fails exporting one cell twice at the same shape (ONNX: "i: 2 out of range"),
    # so a main graph of a bucket's size is a copy of that bucket.
    main_bucket = batch_size if old is None and batch_size in sizes else None
    if old is None and main_bucket is None:
        write_graph(graph, config, fmt, batch_size, output_dir / MODEL_FILES[fmt])
    elif old is not None:
        info = old  # keep its main graph and the buckets this run does not replace
    buckets = [
        Bucket(Bucket.file_name(fmt, n), fmt, n)
        for n in sizes
        if write_graph(graph, config, fmt, n, output_dir / Bucket.file_name(fmt, n))
    ]
    if main_bucket is not None:
        shutil.copyfile(
            output_dir / Bucket.file_name(fmt, main_bucket), output_dir / MODEL_FILES[fmt]
        )
    quantization: dict[str, Any] = dict(info.quantization)
    if quantize is not None and calibration is not None:
        from simplepose.export.quantize import quantize_buckets

        int8, quantization["int8"] = quantize_buckets(
            output_dir, info, buckets, calibration, calibration_persons
        )
        buckets += int8
    new = {(b.format, b.precision, b.batch_size) for b in buckets}
    kept = [b for b in info.buckets if (b.format, b.precision, b.batch_size) not in new]
    info = replace(
        info,
        buckets=tuple(
            sorted([*kept, *buckets], key=lambda b: (b.format, b.precision, b.batch_size))
        ),
        quantization=quantization,
    )
    info.save(output_dir)
    log.info(
        "exported %s (%s, flip %s, buckets %s) to %s", checkpoint, fmt, flip, sizes, output_dir
    )
    return info
