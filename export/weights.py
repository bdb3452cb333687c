"""Turn a registry entry (``simplepose.hub.registry``) into a model directory: download (verified
where a full digest is published), convert and export, reusing whatever the cache holds.

The directory gets the graphs its device serves fastest (``simplepose.runtime.backends``): next to the
dynamic ``model.mindir``, ONNX Runtime FP32 buckets on CPU (when onnx and onnxruntime are
installed), MindIR buckets on Ascend. A cached directory without them (an older export) gets
them added; one whose ``model.json`` lists graphs that are not there is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from simplepose.config.model_info import MODEL_JSON, ModelInfo
from simplepose.hub.download import obtain
from simplepose.hub.model_cache import (
    BUCKET_CHOICES,
    DamagedModelCache,
    bucket_format,
    check_cached_model,
    onnx_export_available,
)
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
)
from simplepose.runtime.buckets import DEFAULT_BATCH_SIZES, check_batch_sizes

__all__ = [
    "BUCKET_CHOICES",
    "DamagedModelCache",
    "FetchedWeights",
    "bucket_format",
    "check_cached_model",
    "ensure_default_model",
    "fetch",
    "onnx_export_available",
]

log = logging.getLogger(__name__)


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
        raise WeightsUnavailable(f"weights {name} failed verification: {exc}") from exc
    except ValueError as exc:  # CheckpointFormatError, LayoutError, CheckpointError: bad file
        raise WeightsUnavailable(f"weights {name} cannot be converted: {exc}") from exc
    if fetched.model_dir is None:
        raise ValueError(f"{name} is a backbone-only checkpoint, not a pose model")
    return fetched.model_dir
