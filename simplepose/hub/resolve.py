"""The one model hub: which model directory (or checkpoint) and which person detector a request
names, for every entry point (``serve``, ``predict``, ``evaluate``, ``detect``,
``PoseEstimator``, the container entrypoint and init containers, which run those commands).

A model is named by:

* a path: an exported model directory (``model.json`` + graphs) or a ``.ckpt`` checkpoint;
* a pose name of the weights registry (``simplepose weights list``): its built directory in the
  cache (``<cache>/models/<name>``), built on first use when this installation can build;
* nothing: the default registry model (``DEFAULT_MODEL``); when that cannot be had, the demo
  model (trained for minutes on the shipped sample images, labelled ``demo`` everywhere) if a
  demo builder is given, else a ``ModelUnavailable`` error saying what to pass.

Building is not done here. Turning downloaded PyTorch weights into a model directory (convert,
export) and training the demo need the export and training stages and MindSpore, which the core
may not import. The caller hands in ``Builders``: the composition root (``simplepose.cli``)
injects the stages' builders into every command; a Python caller passes them to
``PoseEstimator(..., builders=...)`` or builds once with ``simplepose weights get NAME``. Without
a builder, or without MindSpore, a registry name resolves to its cached directory as it is
(export once where MindSpore is, serve anywhere); a missing one is a ``ModelUnavailable`` error
naming that command. No entry-point lookup: what runs is what the caller composed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from simplepose.config.model_info import MODEL_JSON
from simplepose.hub.errors import HubError, ModelNotFound, ModelUnavailable, NotAModel
from simplepose.hub.model_cache import bucket_format, check_cached_model
from simplepose.hub.registry import (
    DEFAULT_MODEL,
    REGISTRY,
    KnownWeights,
    WeightsUnavailable,
    model_path,
)
from simplepose.runtime.mindspore_env import mindspore_installed

if TYPE_CHECKING:
    from simplepose.detection.base import PersonDetector
    from simplepose.detection.options import DetectorOptions

log = logging.getLogger(__name__)

ORIGINS = ("path", "registry", "default", "demo")
DEMO_NOTE = (
    "default pretrained model unavailable: {reason}. Serving the DEMO model instead (trained "
    "for minutes on a few sample images; keypoints are rough). Pass --model DIR or set "
    "SIMPLEPOSE_MODEL for real use."
)


@dataclass(frozen=True)
class HubOptions:
    """Where and how models are resolved. ``cache``: ``None`` is ``$SIMPLEPOSE_CACHE_DIR``,
    else ``~/.cache/simplepose``; ``offline``: never download; ``device``/``backend``: what the
    model will run on, so a built registry model gets the graphs that run fastest there;
    ``demo_steps``: training steps of the demo (``None``: the builder's default);
    ``progress``: one-line messages while building (default: the log)."""

    cache: Path | None = None
    offline: bool = False
    device: str | None = None
    device_id: int = 0
    backend: str = "auto"
    demo_steps: int | None = None
    progress: Callable[[str], None] | None = None

    def say(self, text: str) -> None:
        (self.progress or (lambda line: log.info("%s", line)))(text)


RegistryBuilder = Callable[[KnownWeights, HubOptions], Path]
DemoBuilder = Callable[[HubOptions], Path]
CheckpointBuilder = Callable[[KnownWeights, HubOptions], Path]


@dataclass(frozen=True)
class Builders:
    """What can make a model directory that is not in the cache yet (needs MindSpore).

    ``registry(entry, options)``: download, verify, convert and export a pose registry entry
    (also adds missing bucket graphs to a cached one); returns the directory and raises
    ``WeightsUnavailable`` when the weights cannot be had. ``demo(options)``: train and export
    the demo model; returns its directory. ``checkpoint(entry, options)``: the converted pose
    checkpoint of a registry entry (what ``train --init-from NAME`` fine-tunes from)."""

    registry: RegistryBuilder | None = None
    demo: DemoBuilder | None = None
    checkpoint: CheckpointBuilder | None = None


NO_BUILDERS = Builders()


@dataclass(frozen=True)
class ResolvedModel:
    """``path``: the model directory or checkpoint; ``origin``: one of ``ORIGINS``; ``name``:
    what was asked for (a path or registry name); ``note``: why this one, when it was a
    fallback (the demo)."""

    path: Path
    origin: str
    name: str
    note: str = ""


def _can_build(builder: object) -> bool:
    return builder is not None and mindspore_installed()


def _cached(entry: KnownWeights, options: HubOptions) -> tuple[Path, bool]:
    """The cached directory of ``entry`` and whether it holds all this device wants."""
    directory = model_path(entry, options.cache)
    if not (directory / MODEL_JSON).is_file():
        return directory, False
    info = check_cached_model(directory, "mindir", True)
    wanted = bucket_format("auto", options.device, options.backend)
    return directory, wanted is None or bool(info.bucket_sizes(wanted))


def registry_model(
    entry: KnownWeights, options: HubOptions, builders: Builders = NO_BUILDERS
) -> Path:
    """The model directory of pose registry entry ``entry``: the cached one when it holds the
    graphs this device wants, else built (``builders.registry``), else the cached one as it
    is; ``ModelUnavailable`` when there is none and none can be built here."""
    if entry.kind != "pose":
        raise NotAModel("model", entry.name, f"is a {entry.kind} entry, not a pose model")
    directory, complete = _cached(entry, options)
    if complete:
        return directory
    if _can_build(builders.registry):
        assert builders.registry is not None
        try:
            return Path(builders.registry(entry, options))
        except WeightsUnavailable as exc:
            raise ModelUnavailable("model", entry.name, str(exc)) from exc
    if (directory / MODEL_JSON).is_file():
        log.info("%s: serving the cached build as it is (no builder here)", entry.name)
        return directory
    where = "MindSpore" if builders.registry is not None else "MindSpore and the export stage"
    raise ModelUnavailable(
        "model",
        entry.name,
        f"not built in the cache ({directory}) and building it needs {where}",
        f"run 'simplepose weights get {entry.name}' where simplepose[mindspore] is installed "
        "and copy the cache directory here, or pass an exported model directory",
    )


def check_model_name(model: str | Path) -> Path | KnownWeights:
    """What ``model`` names, without building anything: an existing path (a directory must hold
    ``model.json``) or a pose registry entry; else the ``HubError`` ``resolve_model`` raises.
    Commands call it before they start listening or reading inputs."""
    path = Path(model).expanduser()
    if path.exists():
        if path.is_dir() and not (path / MODEL_JSON).is_file():
            raise ModelNotFound("model", str(model), f"{path} has no {MODEL_JSON}",
                                "pass an exported model directory or a .ckpt checkpoint")  # fmt: skip
        return path
    entry = REGISTRY.get(str(model))
    if entry is None:
        poses = ", ".join(n for n, e in REGISTRY.items() if e.kind == "pose")
        raise ModelNotFound(
            "model", str(model), "not found: neither a path nor a registry name",
            f"pose models: {poses} (simplepose weights list)",
        )  # fmt: skip
    if entry.kind != "pose":
        raise NotAModel("model", entry.name, f"is a {entry.kind} entry, not a pose model")
    return entry


def resolve_model(
    model: str | Path | None,
    options: HubOptions | None = None,
    builders: Builders = NO_BUILDERS,
) -> ResolvedModel:
    """The model ``model`` names (see the module docstring); ``None``: the default, else the
    demo. Raises ``ModelNotFound``, ``NotAModel``, ``ModelUnavailable`` (``HubError``s) and
    ``DamagedModelCache`` for a cached build that is not intact (never silently replaced)."""
    options = options or HubOptions()
    if model is not None and str(model) != "":
        named = check_model_name(model)
        if isinstance(named, Path):
            return ResolvedModel(named, "path", str(model))
        return ResolvedModel(registry_model(named, options, builders), "registry", named.name)
    try:
        path = registry_model(REGISTRY[DEFAULT_MODEL], options, builders)
        return ResolvedModel(path, "default", DEFAULT_MODEL)
    except ModelUnavailable as exc:
        if not _can_build(builders.demo):
            raise ModelUnavailable(
                "model", DEFAULT_MODEL, f"no model given and the default is unavailable: "
                f"{exc.problem}", "pass --model DIR (or SIMPLEPOSE_MODEL), an exported model",
            ) from exc  # fmt: skip
        note = DEMO_NOTE.format(reason=exc.problem)
    log.warning("%s", note)
    assert builders.demo is not None
    return ResolvedModel(Path(builders.demo(options)), "demo", "demo", note)


class DetectorUnavailable(HubError, ValueError):
    """A detector name or file that cannot be loaded (unknown, not cached offline, bad graph)."""


def resolve_detector(
    detector: str | PersonDetector | None,
    options: HubOptions | None = None,
    detector_options: DetectorOptions | None = None,
) -> PersonDetector:
    """The ``PersonDetector`` ``detector`` names (``simplepose.detection.load_detector``: a
    built-in, a detector registry name fetched into the cache, an ONNX detector path; ``None``:
    the default) on ``options.device`` with ``detector_options`` (a ``DetectorOptions``:
    preprocessing and thresholds), or ``detector`` itself when it is a detector object."""
    from simplepose.detection import DEFAULT_DETECTOR, load_detector

    name = DEFAULT_DETECTOR if detector is None else detector
    if not isinstance(name, str):
        return name
    options = options or HubOptions()
    try:
        return load_detector(name, options.device or "auto", options.cache, options.offline,
                             detector_options)  # fmt: skip
    except ValueError as exc:  # DetectorLoadError and unknown names
        raise DetectorUnavailable("detector", name, str(exc)) from exc
