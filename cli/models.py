"""Model builders the core finds by role (entry-point group ``simplepose.model_builders``).

``simplepose.PoseEstimator("mmpose1-res50-256x192")`` needs the export stage to turn the
downloaded PyTorch weights into a model directory; the core may not import a stage, so this
composition-root function is registered under that group in ``pyproject.toml``.
"""

from __future__ import annotations

from pathlib import Path

from simplepose.export.weights import fetch
from simplepose.hub.registry import lookup


def registry_model(
    name: str, cache: str | Path | None = None, offline: bool = False, device: str | None = None
) -> Path:
    """Download (unless cached), verify, convert and export registry entry ``name`` with the
    bucket graphs ``device`` (default: this machine's) serves fastest; returns its model
    directory in the cache (a cached one is checked, and given the buckets it lacks)."""
    fetched = fetch(lookup(name), cache, offline=offline, device=device)
    if fetched.model_dir is None:
        raise ValueError(f"{name} is a backbone-only checkpoint, not a pose model")
    return fetched.model_dir
