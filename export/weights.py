"""Turn a registry entry (``simplepose.weights``) into a model directory: download (verified
where a full digest is published), convert and export, reusing whatever the cache holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from simplepose.weights import (
    DEFAULT_MODEL,
    REGISTRY,
    KnownWeights,
    WeightsError,
    WeightsUnavailable,
    checkpoint_path,
    lookup,
    model_path,
    obtain,
)


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
) -> FetchedWeights:
    """Download (unless cached), check, convert and export one pose or backbone entry.
    Existing results in the cache are reused (layout: ``simplepose.weights``)."""
    from simplepose.export.convert import convert_checkpoint
    from simplepose.export.exporter import export_model

    from simplepose.config import get_preset
    from simplepose.model_info import MODEL_JSON

    if entry.kind not in ("pose", "backbone"):
        raise ValueError(f"{entry.name} is a {entry.kind} file, not pose weights")
    pth = obtain(entry, cache, offline=offline, progress=progress)
    ckpt = checkpoint_path(entry, cache)
    if not ckpt.is_file():
        convert_checkpoint(pth, ckpt, layout=entry.layout, config=get_preset(entry.preset))
    if entry.backbone_only:
        return FetchedWeights(entry, pth, ckpt, None)
    model_dir = model_path(entry, cache, flip=flip, fmt=fmt)
    if not (model_dir / MODEL_JSON).is_file():
        export_model(ckpt, model_dir, flip=flip, fmt=fmt)
    return FetchedWeights(entry, pth, ckpt, model_dir)


def ensure_default_model(
    cache_dir: Path,
    offline: bool = False,
    name: str = DEFAULT_MODEL,
    registry: Mapping[str, KnownWeights] = REGISTRY,
) -> Path:
    """An exported model directory of the default public weights (downloaded, converted and
    exported on first use, then served from ``cache_dir``).

    Raises ``WeightsUnavailable`` when the weights are not cached and cannot be downloaded, the
    download fails verification (e.g. a proxy answered with an error page) or the file does not
    convert (an unverified download that is not the published checkpoint): either way the
    caller has no default model and can fall back.
    """
    entry = lookup(name, registry)
    try:
        fetched = fetch(entry, cache_dir, offline=offline, progress=False)
    except WeightsError as exc:
        raise WeightsUnavailable(f"default weights {name} failed verification: {exc}") from exc
    except ValueError as exc:  # CheckpointFormatError, LayoutError, CheckpointError: bad file
        raise WeightsUnavailable(f"default weights {name} cannot be converted: {exc}") from exc
    if fetched.model_dir is None:
        raise ValueError(f"{name} is a backbone-only checkpoint, not a pose model")
    return fetched.model_dir
