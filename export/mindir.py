"""Export a pose checkpoint to a model directory: ``model.mindir`` (or ``model.onnx``) +
``model.json``.

The graph takes a batch of N normalised crops ``(N, 3, H, W)`` and returns ``(N, K, h, w)``
heatmaps with the flip test fused in (``simplepose.network.pose_net.FlipTestNet``), or ``(N, K,
3)`` keypoints when the decode is fused too (``export.decode_net``). MindIR graphs take any N;
ONNX graphs are exported at one fixed N because MindSpore refuses dynamic ONNX export.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

import simplepose  # noqa: F401  (oneDNN CPU cap before MindSpore runs)
from simplepose.config import Config
from simplepose.model_info import MODEL_FILES, ModelInfo
from simplepose.weights import sha256_file

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("mindir", "onnx")
ONNX_DEFAULT_BATCH = 1  # ONNX graphs have a fixed batch; the runtime pads/splits to it
LOWEST_FLOAT32 = float(np.finfo(np.float32).min)  # border value of the exportable max pool


def _padded_maxpool(pool):
    """An equivalent of a ``pad_mode="pad"`` ``nn.MaxPool2d`` that MindSpore can export.

    MindSpore implements the padded max pool with ``MaxPool3DWithArgmax``: a MindIR exported
    with a dynamic batch then fails to load ("Get infer shape function failed, primitive name:
    raise") and the ONNX exporter does not know the op (nor ``PadV3``). Concatenating borders of
    the lowest float32 and pooling without padding gives identical values with plain ops.
    """
    from mindspore import nn, ops

    kernel, stride, pad = pool.kernel_size, pool.stride, pool.padding[-1]
    if not (isinstance(kernel, int) and isinstance(stride, int)) or set(pool.padding[1:]) != {pad}:
        raise ValueError(f"cannot rewrite max pool {pool} for export: non-square parameters")

    class PaddedMaxPool(nn.Cell):
        def __init__(self):
            super().__init__()
            self.pool = ops.MaxPool(kernel_size=kernel, strides=stride, pad_mode="valid")

        def construct(self, x):
            rows = x[:, :, :pad, :] * 0.0 + LOWEST_FLOAT32
            x = ops.concat((rows, x, rows), axis=2)
            cols = x[:, :, :, :pad] * 0.0 + LOWEST_FLOAT32
            x = ops.concat((cols, x, cols), axis=3)
            return self.pool(x)

    return PaddedMaxPool()


def build_export_graph(net, config: Config, flip: bool = True, fuse_decode: bool = False):
    """The cell that gets exported: ``net`` [+ fused flip] [+ fused quarter decode], eval mode.

    ``net`` (a ``PoseResNet``) has its padded stem max pool swapped for an exportable
    equivalent (see ``_padded_maxpool``); the export tests check the result equals the eager
    ``FlipTestNet``.
    """
    from simplepose.network.pose_net import FlipTestNet

    if getattr(net.maxpool, "use_pad", False):
        net.maxpool = _padded_maxpool(net.maxpool)
    graph = FlipTestNet(net, config.model.num_joints) if flip else net
    if fuse_decode:
        from simplepose.export.decode_net import HeatmapsToKeypoints

        graph = HeatmapsToKeypoints(graph, config.model.heatmap_size)
    graph.set_train(False)
    return graph


def strip_convtranspose_output_shape(path: str | Path) -> int:
    """Remove the ``output_shape`` attribute MindSpore writes on ConvTranspose nodes.

    ONNX Runtime rejects the file with it; without it the padding attributes give the same
    output (REFERENCE.md). Returns how many attributes were removed.
    """
    onnx = _import_onnx("onnx")
    model = onnx.load(str(path))
    removed = 0
    for node in model.graph.node:
        if node.op_type != "ConvTranspose":
            continue
        keep = [a for a in node.attribute if a.name != "output_shape"]
        removed += len(node.attribute) - len(keep)
        del node.attribute[:]
        node.attribute.extend(keep)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return removed


class MissingDependencyError(RuntimeError):
    """An optional package the requested export needs is not installed."""


def _import_onnx(name: str):
    try:
        return __import__(name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX support needs the '{name}' package: pip install 'simplepose[onnx]'"
        ) from exc


def export_model(
    checkpoint: Path,
    output_dir: Path,
    config: Config | None = None,
    flip: bool = True,
    fmt: str = "mindir",
    fuse_decode: bool = False,
    batch_size: int | None = None,
) -> ModelInfo:
    """Write ``output_dir/model.{mindir,onnx}`` and ``output_dir/model.json``; return the info.

    Args:
        checkpoint: a pose ``.ckpt`` (its metadata carries the config; else pass ``config``).
        config: overrides the checkpoint's config (needed for checkpoints without metadata).
        flip: fuse the flip test (one 2N batch, flip back, pair swap, 1-px shift, mean).
        fmt: ``"mindir"`` (dynamic batch unless ``batch_size``) or ``"onnx"`` (fixed batch,
            ``batch_size`` or ``ONNX_DEFAULT_BATCH``).
        fuse_decode: the graph returns ``(N, K, 3)`` keypoints (argmax + quarter refinement).
        batch_size: fix the batch dimension (``None``: dynamic, MindIR only).
    """
    import mindspore as ms

    from simplepose.network.checkpoint import build_network

    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {EXPORT_FORMATS}, got {fmt!r}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch size must be >= 1 (or None for dynamic), got {batch_size}")
    if fmt == "onnx" and batch_size is None:
        batch_size = ONNX_DEFAULT_BATCH
    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    net, config, meta = build_network(checkpoint, config)
    graph = build_export_graph(net, config, flip=flip, fuse_decode=fuse_decode)
    w, h = config.model.input_size
    if batch_size is None:
        example = ms.Tensor(shape=[None, 3, h, w], dtype=ms.float32)  # dynamic batch
    else:
        example = ms.Tensor(np.zeros((batch_size, 3, h, w), np.float32))

    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / MODEL_FILES[fmt]
    # Export into a scratch dir first so a failed export never leaves a half-written model dir.
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".export-") as tmp:
        stem = Path(tmp) / "model"
        ms.export(graph, example, file_name=str(stem), file_format=fmt.upper())
        written = stem.with_suffix("." + fmt)
        if not written.is_file():
            raise RuntimeError(f"MindSpore wrote no {written.name} for {checkpoint}")
        if fmt == "onnx":
            removed = strip_convtranspose_output_shape(written)
            log.info("removed output_shape from %d ConvTranspose nodes", removed)
        shutil.move(str(written), target)

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
    info.save(output_dir)
    log.info("exported %s (%s, flip %s) to %s", checkpoint, fmt, flip, target)
    return info
