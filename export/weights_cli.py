"""``simplepose weights list|get``: the known public weights, and fetching one into the cache.

Part of the export stage: ``get`` downloads, verifies, converts and exports a pose model (with
the buckets this machine serves fastest) or unpacks a person detector. MindSpore is imported
inside the handlers only, so ``simplepose --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simplepose.commandline.errors import CLIError
from simplepose.export.cli import (
    DEFAULT_SIZES,
    NO_FLIP,
    Option,
    add_options,
    batch_sizes_option,
)
from simplepose.export.exporter import EXPORT_FORMATS
from simplepose.export.weights import BUCKET_CHOICES
from simplepose.hub.registry import KnownWeights

WEIGHTS_GET_OPTIONS: tuple[Option, ...] = (
    (("name",), {"help": "a name from 'simplepose weights list'"}),
    (("--cache-dir",), {"help": "default: $SIMPLEPOSE_CACHE_DIR or ~/.cache/simplepose"}),
    (("--format",), {"choices": EXPORT_FORMATS, "default": "mindir", "help": "default: mindir"}),
    NO_FLIP,
    (
        ("--buckets",),
        {
            "choices": BUCKET_CHOICES,
            "default": "auto",
            "help": "static-shape graphs (one per batch size) to add for fast serving: auto "
            "(default) = what this machine serves fastest, ONNX Runtime graphs on CPU (when "
            "onnxruntime is installed) or MindIR graphs on Ascend; onnx or mindir to prepare a "
            "model for another machine (onnx: CPU, mindir: Ascend); none = model.mindir only",
        },
    ),  # fmt: skip
    (
        ("--batch-sizes",),
        {
            "metavar": "N,N,...",
            "default": DEFAULT_SIZES,
            "help": f"the buckets' batch sizes (default: {DEFAULT_SIZES})",
        },
    ),  # fmt: skip
    (("--offline",), {"action": "store_true", "help": "use the cache only, never download"}),
)
WEIGHTS_GET_DESCRIPTION = """\
Download NAME into the cache (progress bar, sha256 checked), convert it and
export a model directory: model.mindir (any batch size) plus one static-shape
graph per batch size in the format this machine serves fastest (--buckets).
Results are cached: a second call does no work, except adding the buckets an
older cached export lacks. It ends by saying how 'simplepose serve' runs it."""
WEIGHTS_GET_EPILOG = """\
examples:
  simplepose weights get mmpose1-res50-256x192                  # for this machine
  simplepose weights get mmpose1-res50-256x192 --buckets mindir # for an Ascend host
(the model directory is the same for every --buckets; see docs/fast-paths.md)"""


def _weights_list(args: argparse.Namespace) -> int:
    from simplepose.detection.zoo import DEFAULT_DETECTOR_WEIGHTS
    from simplepose.export.layouts import CHANNEL_ORDER
    from simplepose.hub.registry import AP_NOTE, DEFAULT_MODEL, REGISTRY

    print(f"{'name':<24} {'kind':<9} {'layout':<12} {'input':<8} {'order':<5} {'AP':>5}  sha256")
    for e in REGISTRY.values():
        ap = f"{e.published_ap:.1f}" if e.published_ap is not None else "  -"
        star = " (default)" if e.name in (DEFAULT_MODEL, DEFAULT_DETECTOR_WEIGHTS) else ""
        size = e.preset.replace("-", "_").split("_")[1] if e.preset else "-"
        order = CHANNEL_ORDER.get(e.layout, "-")
        sha = e.sha256[:16] + "..." if e.verified else "UNVERIFIED (no public full digest)"
        print(f"{e.name:<24} {e.kind:<9} {e.layout or '-':<12} {size:<8} {order:<5} {ap:>5}  "
              f"{sha}{star}\n{'':<24} licence: {e.licence}")  # fmt: skip
    print(f"AP: {AP_NOTE}. torchvision entries are ImageNet backbones (training init only).")
    print("UNVERIFIED: the digest is recorded at the first download and enforced afterwards "
          "(pose entries also check the 8-digit hash prefix of their file name).")  # fmt: skip
    print(f"detector entries: person detectors for 'simplepose serve --detector NAME'; the "
          f"default (--detector auto) is {DEFAULT_DETECTOR_WEIGHTS}.")  # fmt: skip
    return 0


def _detector_get(args: argparse.Namespace, entry: KnownWeights) -> int:
    from simplepose.detection.zoo import fetch_detector

    graph = fetch_detector(entry, args.cache_dir, offline=args.offline)
    if not entry.verified:
        print(f"note: {entry.name} is UNVERIFIED (no published full sha256); its digest was "
              "recorded next to the download and is enforced from now on")  # fmt: skip
    print(f"detector: {graph}  (serve it: simplepose serve --detector {entry.name})")
    print(f"licence: {entry.licence}")
    return 0


def _served_by(model_dir: Path) -> str:
    """How ``simplepose serve`` (backend ``auto``) runs ``model_dir`` on this machine."""
    from simplepose.config.model_info import ModelInfo
    from simplepose.runtime.backends import choose_backend
    from simplepose.runtime.device import default_device
    from simplepose.runtime.onnx_model import onnxruntime_installed

    info, device = ModelInfo.load(model_dir), default_device()
    try:
        backend = choose_backend(info, device, onnxruntime_installed=onnxruntime_installed())
    except ValueError as exc:
        return f"on {device}, simplepose serve cannot run it: {exc}"
    sizes = info.bucket_sizes(backend.format, backend.precision) if backend.bucketed else ()
    buckets = f" (buckets {','.join(map(str, sizes))})" if sizes else " (any batch size)"
    return f"on {device}, simplepose serve runs it with backend {backend.name}{buckets}"


def _weights_get(args: argparse.Namespace) -> int:
    from simplepose.export.onnx_graph import MissingDependencyError
    from simplepose.export.weights import DamagedModelCache, fetch
    from simplepose.hub.registry import WeightsUnavailable, lookup

    entry = lookup(args.name)
    sizes = batch_sizes_option(args.batch_sizes)
    try:
        if entry.kind == "detector":
            return _detector_get(args, entry)
        fetched = fetch(
            entry,
            args.cache_dir,
            fmt=args.format,
            flip=not args.no_flip,
            offline=args.offline,
            buckets=args.buckets,
            batch_sizes=sizes or (),
        )
    except (WeightsUnavailable, MissingDependencyError, DamagedModelCache) as exc:
        raise CLIError(str(exc)) from exc
    if not fetched.entry.verified:
        print(f"note: {fetched.entry.name} is UNVERIFIED (no published full sha256); "
              f"its digest was recorded in {fetched.download}.sha256")  # fmt: skip
    print(f"checkpoint: {fetched.checkpoint}")
    if fetched.model_dir is None:
        print("backbone-only weights: use the checkpoint to initialise training")
    else:
        print(
            f"model: {fetched.model_dir}  (serve it: simplepose serve --model {fetched.model_dir})"
        )
        print(_served_by(fetched.model_dir))
    return 0


def _weights_help(args: argparse.Namespace) -> int:
    raise CLIError("choose 'simplepose weights list' or 'simplepose weights get NAME'")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "weights",
        help="list or fetch known public weights (pose models, backbones, person detectors)",
        description=(
            "Known public files: list them (with licences), or download+verify+convert+export a "
            "pose model, or download+unpack a person detector."
        ),
    )
    p.set_defaults(func=_weights_help)
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION")
    wsub.add_parser("list", help="show the known weights").set_defaults(func=_weights_list)
    g = wsub.add_parser(
        "get",
        help="download, verify (sha256), convert and export NAME",
        description=WEIGHTS_GET_DESCRIPTION,
        epilog=WEIGHTS_GET_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(g, WEIGHTS_GET_OPTIONS)
    g.set_defaults(func=_weights_get)
