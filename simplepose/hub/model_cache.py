"""Built models in the cache: which bucket graphs a device wants, and whether a cached export is
intact. Pure (no MindSpore): the hub checks the cache with it before asking a builder
(``simplepose.hub.resolve``), and the export stage's builder uses it when it adds graphs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from simplepose.config.model_info import MODEL_FILES, MODEL_JSON, Bucket, ModelInfo
from simplepose.runtime.backends import bucket_format_for
from simplepose.runtime.on_device import default_device
from simplepose.runtime.onnx_model import onnxruntime_installed

BUCKET_CHOICES = ("auto", "onnx", "mindir", "none")


class DamagedModelCache(ValueError):
    """A cached model directory that is not what its ``model.json`` says (missing or renamed
    graphs, another model's export): refused rather than served or silently overwritten. The
    user can fix it (the message says how), so command lines report it in one line."""


def onnx_export_available() -> bool:
    """ONNX buckets can be exported (``onnx``) and served (``onnxruntime``) here."""
    return onnxruntime_installed() and importlib.util.find_spec("onnx") is not None


def bucket_format(
    choice: str = "auto", device: str | None = None, backend: str = "auto"
) -> str | None:
    """The bucket graphs to export for ``choice`` (``BUCKET_CHOICES``): ``auto`` picks what
    ``backend`` runs fastest on ``device`` (default: this machine's, Ascend when an NPU is
    visible); ``none``: only the dynamic MindIR."""
    if choice not in BUCKET_CHOICES:
        raise ValueError(f"buckets must be one of {BUCKET_CHOICES}, got {choice!r}")
    if choice != "auto":
        return None if choice == "none" else choice
    return bucket_format_for(device or default_device(), onnx_export_available(), backend)


def check_cached_model(model_dir: Path, fmt: str, flip: bool) -> ModelInfo:
    """The cached export in ``model_dir``, or ``DamagedModelCache`` naming what is wrong and
    how to rebuild it: every graph ``model.json`` lists must be there, under the name the
    exporter gives it, and the export must be the one asked for (format, flip test)."""
    fix = f"delete {model_dir} and run the command again to rebuild it"
    try:
        info = ModelInfo.load(model_dir)
    except (OSError, ValueError) as exc:
        raise DamagedModelCache(f"{exc}; {fix}") from exc
    if (info.format, info.flip_fused) != (fmt, flip):
        raise DamagedModelCache(
            f"{model_dir} holds a {info.format} export (flip {info.flip_fused}), not the "
            f"{fmt} export (flip {flip}) its name stands for; {fix}"
        )
    renamed = [
        b.file
        for b in info.buckets
        if b.file != Bucket.file_name(b.format, b.batch_size, b.precision)
    ]
    if renamed:
        raise DamagedModelCache(
            f"{model_dir}/{MODEL_JSON} lists bucket graphs under names the exporter never "
            f"writes ({', '.join(renamed)}); {fix}"
        )
    listed = [MODEL_FILES[info.format], *(b.file for b in info.buckets)]
    missing = [name for name in listed if not (model_dir / name).is_file()]
    if missing:
        raise DamagedModelCache(
            f"{model_dir}/{MODEL_JSON} lists graphs that are missing ({', '.join(missing)}); {fix}"
        )
    return info
