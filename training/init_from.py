"""Fine-tuning start (``train --init-from``): which checkpoint a source names, and loading what of
it fits a new run's network.

A pose checkpoint gives the backbone and the deconvolutions; its final layer (one output channel
per keypoint) is kept only when the run trains the same keypoint set (same names in the same
order), else it is re-initialised, and a log line says what was kept. As with the ImageNet
``--pretrained`` backbone, nothing that does not fit is loaded silently.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from simplepose.commandline.errors import CLIError
from simplepose.config.loading import config_from_dict
from simplepose.config.model_info import MODEL_JSON, ModelInfo
from simplepose.config.presets import DATA_FACT_FIELDS, Config, ModelConfig
from simplepose.hub.registry import WeightsUnavailable, lookup
from simplepose.training.run_dir import BEST_CKPT, LAST_CKPT

log = logging.getLogger(__name__)
FINAL_PREFIX = "final_layer."
DECONV_PREFIX = "deconv_layers."
# Architecture fields the loaded weights must share with the run; input and heatmap size may
# differ (the network is fully convolutional) and the joint count decides about the final layer.
SHARED_FIELDS = ("depth", "deconv_channels", "num_deconv_layers", "deconv_kernel", "final_kernel")

RegistryResolver = Callable[[str], Path]


class InitError(ValueError):
    """A ``--init-from`` source that names no usable pose checkpoint."""


def add_init_from_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--init-from",
        default=None,
        metavar="CKPT|DIR|NAME",
        help="fine-tune from a pose model: a .ckpt, a run directory (best.ckpt), an exported "
        "model directory (the checkpoint its model.json names) or a registry name ('simplepose "
        "weights list'); its final layer is kept only for the same keypoint set",
    )


def cli_source(args: argparse.Namespace) -> Path:
    """The pose checkpoint ``train --init-from`` names (a registry name is downloaded and
    converted here, once, before any worker starts)."""
    if args.resume is not None:
        raise CLIError("--init-from starts a new run; --resume continues one with its own weights")
    if args.pretrained is not None:
        raise CLIError("--init-from loads the backbone too: give --pretrained or --init-from")
    try:
        return resolve_source(args.init_from, _registry(args))
    except WeightsUnavailable as exc:
        raise CLIError(f"--init-from {args.init_from}: {exc}") from exc


def _registry(args: argparse.Namespace) -> RegistryResolver | None:
    """Registry names through the hub: ``args.builders.checkpoint`` (the composition root's),
    with the hub's cache and offline setting (``SIMPLEPOSE_CACHE_DIR``/``SIMPLEPOSE_OFFLINE``)."""
    from simplepose.commandline.options import from_env, hub_options

    build = getattr(getattr(args, "builders", None), "checkpoint", None)
    if build is None:
        return None
    options = hub_options(from_env(argparse.Namespace(**vars(args)), ("cache_dir", "offline")))

    def checkpoint(name: str) -> Path:
        try:
            entry = lookup(name)
        except ValueError as exc:
            raise InitError(f"--init-from {name}: {exc}") from exc
        return build(entry, options)

    return checkpoint


def resolve_source(text: str, registry: RegistryResolver | None = None) -> Path:
    """The pose checkpoint ``text`` names: a ``.ckpt`` file; a model directory (the checkpoint its
    ``model.json`` was exported from); a training run directory (``best.ckpt``, else
    ``last.ckpt``); or a name of the weights registry (``registry`` downloads and converts it)."""
    path = Path(text)
    if path.is_file():
        if path.suffix != ".ckpt":
            raise InitError(f"--init-from {text}: expected a .ckpt pose checkpoint")
        return path
    if path.is_dir():
        return _checkpoint_in(path)
    if "/" in text or "\\" in text or path.suffix:
        raise InitError(f"--init-from {text}: no such checkpoint or directory")
    if registry is None:
        raise InitError(f"--init-from {text}: not a file or directory, and no registry to look up")
    return registry(text)


def _checkpoint_in(directory: Path) -> Path:
    if (directory / MODEL_JSON).is_file():
        info = ModelInfo.load(directory)
        named = Path(info.source_checkpoint) if info.source_checkpoint else None
        for candidate in (named, directory / named.name if named else None):
            if candidate is not None and candidate.is_file():
                return candidate
        raise InitError(
            f"--init-from {directory}: an exported {info.format} model whose checkpoint is not "
            f"here ({MODEL_JSON} names {info.source_checkpoint or 'none'}); pass that .ckpt file"
        )
    for name in (BEST_CKPT, LAST_CKPT):
        if (directory / name).is_file():
            return directory / name
    raise InitError(
        f"--init-from {directory}: holds no pose checkpoint ({MODEL_JSON}, {BEST_CKPT} or "
        f"{LAST_CKPT})"
    )


@dataclass(frozen=True)
class InitSource:
    """A pose checkpoint read for fine-tuning: its parameters and the config it was saved with."""

    path: Path
    params: dict[str, Any]
    config: Config


def read_source(path: Path) -> InitSource:
    """Read a pose checkpoint for ``--init-from``; refuses backbone-only and metadata-less ones."""
    from simplepose.network.checkpoint import read_checkpoint

    params, meta = read_checkpoint(path)
    if "config" not in meta:
        raise InitError(f"--init-from {path}: no simplepose metadata (convert it first)")
    if meta.get("backbone_only"):
        raise InitError(f"--init-from {path}: holds a backbone only; use --pretrained {path}")
    return InitSource(path, params, config_from_dict(meta["config"]))


def run_config(config: Config, source: InitSource) -> Config:
    """``config`` for fine-tuning from ``source``: its architecture must match (except input
    size and keypoints); the data facts the weights expect (channel order, mean/std) come from
    the checkpoint unless the run sets them."""
    saved, given = source.config.model, config.model
    clash = [
        f"{name}: checkpoint {getattr(saved, name)!r}, run {getattr(given, name)!r}"
        for name in SHARED_FIELDS
        if getattr(saved, name) != getattr(given, name)
    ]
    if clash:
        raise InitError(
            f"--init-from {source.path} is another network than this run's config "
            f"{config.name} ({'; '.join(clash)}); choose a --config of the same architecture"
        )
    defaults = ModelConfig()
    facts = {
        name: getattr(saved, name)
        for name in DATA_FACT_FIELDS
        if getattr(given, name) == getattr(defaults, name)
        and getattr(saved, name) != getattr(given, name)
    }
    if facts:
        log.info("--init-from %s: the weights expect %s", source.path, facts)
    return replace(config, model=replace(given, **facts)).validate()


def load_init(net: Any, config: Config, source: InitSource) -> str:
    """Copy ``source``'s weights into ``net`` (built from ``config``); returns the log line
    saying what was kept and what was re-initialised."""
    from simplepose.network.checkpoint import CheckpointError, load_into

    own = {p.name for p in net.get_parameters()}
    theirs, ours = source.config.keypoints.names, config.keypoints.names
    same_set = theirs == ours
    params = {k: v for k, v in source.params.items() if same_set or not k.startswith(FINAL_PREFIX)}
    unexpected = sorted(set(params) - own)
    if unexpected:
        raise CheckpointError(
            f"--init-from {source.path}: {len(unexpected)} parameters this network does not "
            f"have: {', '.join(unexpected[:6])}"
        )
    load_into(net, params, allow_missing=True, source=str(source.path))
    deconv = sum(k.startswith(DECONV_PREFIX) for k in params)
    backbone = len(params) - deconv - sum(k.startswith(FINAL_PREFIX) for k in params)
    kept = f"kept the backbone ({backbone} tensors) and deconvolutions ({deconv} tensors)"
    if same_set:
        line = f"{kept} and the final layer (same {len(ours)} keypoints)"
    else:
        line = (
            f"{kept}; final layer re-initialised: the checkpoint predicts {len(theirs)} "
            f"keypoints ({_names(theirs)}), this run {len(ours)} ({_names(ours)})"
        )
    log.warning("--init-from %s: %s", source.path, line)
    return line


def _names(names: tuple[str, ...], shown: int = 4) -> str:
    more = f", ... {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
