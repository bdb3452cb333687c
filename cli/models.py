"""The model builders the composition root injects into the hub (``simplepose.hub.resolve``).

Building a registry model (download, convert, export) needs the export stage, and the demo model
the training and export stages; the core may not import a stage, so every command gets these
through ``BUILDERS`` (``simplepose.cli`` sets them as the ``builders`` default of every
subcommand) and a Python caller passes them: ``PoseEstimator(name, builders=BUILDERS)``.
"""

from __future__ import annotations

from pathlib import Path

from simplepose.hub.registry import REGISTRY, KnownWeights
from simplepose.hub.resolve import Builders, HubOptions


def registry_model(entry: KnownWeights, options: HubOptions) -> Path:
    """Download (unless cached), verify, convert and export pose entry ``entry`` with the bucket
    graphs ``options.device`` serves fastest with ``options.backend``; a cached directory is
    checked and given the buckets it lacks. ``WeightsUnavailable`` when the weights cannot be
    had or are not the published file."""
    from simplepose.export.weights import ensure_default_model

    options.say(f"building {entry.name} in the cache (download, convert, export; once)")
    return ensure_default_model(
        options.cache or _default_cache(), options.offline, name=entry.name,
        registry=REGISTRY, device=options.device, backend=options.backend,
    )  # fmt: skip


def registry_checkpoint(entry: KnownWeights, options: HubOptions) -> Path:
    """The pose checkpoint of registry entry ``entry`` (downloaded, verified and converted once,
    then taken from the cache): what ``simplepose train --init-from NAME`` fine-tunes from."""
    from simplepose.export.weights import pose_checkpoint

    return pose_checkpoint(entry, options.cache, offline=options.offline)


def demo_model(options: HubOptions) -> Path:
    """The demo model directory, trained and exported first on the device it will run on."""
    from simplepose.runtime.device import select_device
    from simplepose.serving.demo import DEMO_STEPS, ensure_demo_model

    device = select_device(options.device, options.device_id)  # train where it will run
    return ensure_demo_model(
        options.cache or _default_cache(), options.demo_steps or DEMO_STEPS, device,
        options.device_id, options.progress,
    )  # fmt: skip


def _default_cache() -> Path:
    from simplepose.hub.cache import cache_dir

    return cache_dir()


BUILDERS = Builders(registry=registry_model, demo=demo_model, checkpoint=registry_checkpoint)
