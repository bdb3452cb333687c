"""Turn a registry entry (``simplepose.hub.registry``) into a model directory: download (verified
where a full digest is published), convert and export, reusing whatever the cache holds.

The directory gets the graphs its device serves fastest (``simplepose.runtime.backends``): next to the
dynamic ``model.mindir``, ONNX Runtime FP32 buckets on CPU (when onnx and onnxruntime are
installed), MindIR buckets on Ascend. A cached directory without them (an older export) gets
them added; one whose ``model.json`` lists graphs that are not there is refused.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from simplepose.config.model_info import MODEL_FILES, MODEL_JSON, Bucket, ModelInfo
from simplepose.hub.registry import (
    DEFAULT_MODEL,
    REGISTRY,
    KnownWeights,
    WeightsError,
    WeightsUnavailable,
    checkpoint_path,
    download_path,
    lookup,
    model_path,
    obtain,
)
from simplepose.runtime.backends import bucket_format_for
from simplepose.runtime.buckets import DEFAULT_BATCH_SIZES, check_batch_sizes
from simplepose.runtime.onnx_model import onnxruntime_installed

log = logging.getLogger(__name__)

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
    if device is None:
        from simplepose.runtime.device import default_device

        device = default_device()
    return bucket_format_for(device, onnx_export_available(), backend)


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


def _model_dir(
    checkpoint: Path,
    model_dir: Path,
    fmt: str,
    flip: bool,
    buckets: str | None,
    sizes: tuple[int, ...],
) -> ModelInfo:
    """Export ``checkpoint`` to ``model_dir`` unless cached, then add the ``buckets`` graphs of
    ``sizes`` it lacks (the upgrade of an older, bucketless cache entry)."""
    from simplepose.export.exporter import export_model

    if (model_dir / MODEL_JSON).is_file():
        info = check_cached_model(model_dir, fmt, flip)
    else:
        info = export_model(checkpoint, model_dir, flip=flip, fmt=fmt,
                            batch_sizes=sizes if buckets == fmt else None)  # fmt: skip
    missing = [n for n in sizes if buckets and n not in info.bucket_sizes(buckets)]
    if buckets and missing:
        log.info("adding %s buckets %s to %s (once; about 10 s for ResNet-50 on an idle 2-core CPU)",
                 buckets, missing, model_dir)  # fmt: skip
        try:
            info = export_model(checkpoint, model_dir, flip=flip, fmt=buckets, batch_sizes=missing)
        except ValueError as exc:  # the directory holds another checkpoint's export
            raise DamagedModelCache(f"{exc}; delete {model_dir} to rebuild it") from exc
    return info


@dataclass(frozen=True)
class FetchedWeights:
    """Where ``fetch`` left things. ``model_dir`` is None for backbone-only weights."""

    entry: KnownWeights
    download: Path
    checkpoint: Path
    model_dir: Path | None


def fetch(
    entry: KnownWeights,
    cache: str | Path | None = None,
    fmt: str = "mindir",
    flip: bool = True,
    offline: bool = False,
    progress: bool = True,
    buckets: str = "auto",
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    device: str | None = None,
    backend: str = "auto",
) -> FetchedWeights:
    """Download (unless cached), check, convert and export one pose or backbone entry.
    Existing results in the cache are reused (layout: ``simplepose.hub.registry``).

    ``buckets`` (``BUCKET_CHOICES``, see ``bucket_format``) adds static-shape graphs of
    ``batch_sizes`` next to the main one; ``auto``: those ``backend`` serves fastest on
    ``device``. Raises ``DamagedModelCache`` for a cached directory that is not intact."""
    if entry.kind not in ("pose", "backbone"):
        raise ValueError(f"{entry.name} is a {entry.kind} file, not pose weights")
    wanted, sizes = bucket_format(buckets, device, backend), check_batch_sizes(batch_sizes)
    ckpt = pose_checkpoint(entry, cache, offline=offline, progress=progress)
    pth = download_path(entry, cache)  # verified by pose_checkpoint
    if entry.backbone_only:
        return FetchedWeights(entry, pth, ckpt, None)
    model_dir = model_path(entry, cache, flip=flip, fmt=fmt)
    _model_dir(ckpt, model_dir, fmt, flip, wanted, sizes)
    return FetchedWeights(entry, pth, ckpt, model_dir)


def pose_checkpoint(
    entry: KnownWeights,
    cache: str | Path | None = None,
    offline: bool = False,
    progress: bool = True,
) -> Path:
    """The converted pose (or backbone) checkpoint of ``entry`` in the cache: downloaded and
    verified unless cached (``obtain``), converted once."""
    from simplepose.config.presets import get_preset
    from simplepose.export.convert import convert_checkpoint

    if entry.kind not in ("pose", "backbone"):
        raise ValueError(f"{entry.name} is a {entry.kind} file, not pose weights")
    pth = obtain(entry, cache, offline=offline, progress=progress)
    ckpt = checkpoint_path(entry, cache)
    if not ckpt.is_file():
        convert_checkpoint(pth, ckpt, layout=entry.layout, config=get_preset(entry.preset))
    return ckpt


def registry_checkpoint(name: str, cache: str | Path | None = None) -> Path:
    """The pose checkpoint of registry entry ``name`` (downloaded, verified and converted once,
    then taken from the cache): what ``simplepose train --init-from NAME`` fine-tunes from."""
    return pose_checkpoint(lookup(name), cache)


def ensure_default_model(
    cache_dir: Path,
    offline: bool = False,
    name: str = DEFAULT_MODEL,
    registry: Mapping[str, KnownWeights] = REGISTRY,
    device: str | None = None,
    backend: str = "auto",
) -> Path:
    """An exported model directory of the default public weights (downloaded, converted and
    exported on first use, then served from ``cache_dir``), with the bucket graphs ``backend``
    serves fastest on ``device`` (``fetch``).

    Raises ``WeightsUnavailable`` when the weights are not cached and cannot be downloaded, the
    download fails verification (e.g. a proxy answered with an error page) or the file does not
    convert (an unverified download that is not the published checkpoint): either way the
    caller has no default model and can fall back. A damaged cached directory raises
    ``DamagedModelCache``: the user has a default model, and must repair it.
    """
    entry = lookup(name, registry)
    try:
        fetched = fetch(
            entry, cache_dir, offline=offline, progress=False, device=device, backend=backend
        )
    except DamagedModelCache:
        raise  # the user has a default model, and must repair it: no silent fallback
    except WeightsError as exc:
        raise WeightsUnavailable(f"default weights {name} failed verification: {exc}") from exc
    except ValueError as exc:  # CheckpointFormatError, LayoutError, CheckpointError: bad file
        raise WeightsUnavailable(f"default weights {name} cannot be converted: {exc}") from exc
    if fetched.model_dir is None:
        raise ValueError(f"{name} is a backbone-only checkpoint, not a pose model")
    return fetched.model_dir
