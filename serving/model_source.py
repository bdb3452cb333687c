"""Which model ``simplepose serve`` / ``predict`` run, and loading it on the chosen device.

Order: ``--model`` / ``SIMPLEPOSE_MODEL`` (a path, or a pose name of the export stage's weights
registry); else the cached default pretrained model (downloaded on first run); if that cannot be
had, one clear message and the demo model (``serving.demo``), which is labelled ``demo``
everywhere. Never random weights. Registry models get the bucket graphs their device serves
fastest (``simplepose.export.weights``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simplepose.serving.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelChoice:
    path: Path
    origin: str  # "explicit", "default", "demo"
    note: str = ""  # why this one (e.g. why the default was unavailable)


def default_model(settings: Settings) -> tuple[Path | None, str]:
    """The cached/downloaded default pretrained model dir, or ``None`` and the reason. It holds
    the bucket graphs the settings' backend serves fastest on their device (on CPU: ONNX
    Runtime's), added to an older cached export that lacks them."""
    try:
        from simplepose.export.weights import ensure_default_model
        from simplepose.hub.registry import WeightsUnavailable
    except ImportError as exc:
        return None, f"this installation has no default-weights registry ({exc})"
    try:
        path = ensure_default_model(
            settings.cache_dir, settings.offline, device=settings.device, backend=settings.backend
        )
        return Path(path), ""
    except WeightsUnavailable as exc:
        return None, str(exc)


def named_model(settings: Settings) -> Path | None:
    """``--model NAME`` for a pose entry of the weights registry: its model directory, fetched
    into the cache like the default model (with the device's buckets); ``None`` if ``NAME``
    is no such entry."""
    from simplepose.hub.registry import REGISTRY, WeightsUnavailable

    entry = REGISTRY.get(str(settings.model))
    if entry is None or entry.kind != "pose":
        return None
    from simplepose.export.weights import fetch

    try:
        fetched = fetch(entry, settings.cache_dir, offline=settings.offline, progress=False,
                        device=settings.device, backend=settings.backend)  # fmt: skip
    except WeightsUnavailable as exc:
        raise FileNotFoundError(f"model {entry.name} cannot be had: {exc}") from exc
    return fetched.model_dir


def resolve_model(settings: Settings, progress: Callable[[str], None] | None = None) -> ModelChoice:
    if settings.model is not None:
        if settings.model.exists():
            return ModelChoice(settings.model, "explicit")
        named = named_model(settings)
        if named is None:
            raise FileNotFoundError(
                f"model not found: {settings.model} is neither a path nor a pose model name "
                "of 'simplepose weights list'"
            )
        return ModelChoice(named, "explicit")
    path, reason = default_model(settings)
    if path is not None:
        return ModelChoice(path, "default")
    from simplepose.serving.demo import ensure_demo_model

    note = (
        f"default pretrained model unavailable: {reason}. Serving the DEMO model instead "
        "(trained for minutes on a few sample images; keypoints are rough). "
        "Pass --model DIR or set SIMPLEPOSE_MODEL for real use."
    )
    log.warning("%s", note)
    from simplepose.runtime.device import select_device

    device = select_device(settings.device, settings.device_id)  # train where it will run
    demo = ensure_demo_model(
        settings.cache_dir, settings.demo_train_steps, device, settings.device_id, progress
    )
    return ModelChoice(demo, "demo", note)


def load_on_device(
    path: Path,
    device: str | None,
    device_id: int,
    backend: str = "auto",
    threads: int | None = None,
):
    """Select the MindSpore device, then load ``path`` with ``backend`` (``simplepose.runtime.backends``)
    and ``threads`` CPU threads; returns ``(model, device_name)``.

    ``network.device.select_device`` owns the choice: asking again for the device already in
    use (e.g. after the demo model trained on it) is fine; a switch raises ``RuntimeError``."""
    from simplepose.runtime.device import select_device
    from simplepose.runtime.model_loader import load_model

    name = select_device(device, device_id)
    return load_model(path, backend=backend, threads=threads), name
