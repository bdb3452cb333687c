"""Subcommands of the export stage: ``export``, ``convert`` and ``weights list|get``.

Options are tables (flags, argparse keywords) so each command reads at a glance; choices come
from the modules that define them. MindSpore is imported inside the handlers only, so
``simplepose --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from simplepose.export.exporter import EXPORT_FORMATS
from simplepose.export.layouts import LAYOUT_CHOICES
from simplepose.export.weights import BUCKET_CHOICES

from simplepose.buckets import DEFAULT_BATCH_SIZES
from simplepose.errors import CLIError
from simplepose.model_info import MODEL_FILES
from simplepose.weights import KnownWeights

Option = tuple[tuple[str, ...], dict[str, Any]]
DEFAULT_SIZES = ",".join(map(str, DEFAULT_BATCH_SIZES))

NO_FLIP: Option = (("--no-flip",), {"action": "store_true", "help": "export without the fused flip test"})  # fmt: skip
EXPORT_OPTIONS: tuple[Option, ...] = (
    (("--checkpoint",), {"required": True, "help": "pose checkpoint (.ckpt) to export"}),
    (("--output",), {"required": True, "help": "model directory to write"}),
    (("--config",), {"help": "preset or YAML; only for checkpoints without simplepose metadata"}),
    NO_FLIP,
    (("--format",), {"choices": EXPORT_FORMATS, "default": "mindir", "help": "default: mindir"}),
    (
        ("--batch-size",),
        {"type": int, "help": "fix the main graph's batch size (MindIR default: dynamic; ONNX: 1)"},
    ),  # fmt: skip
    (
        ("--batch-sizes",),
        {
            "metavar": "N,N,...",
            "help": "also write one static-shape graph per batch size, e.g. 1,2,4,8,16 (added to an export of the same checkpoint in --output)",
        },
    ),  # fmt: skip
    (
        ("--quantize",),
        {
            "choices": ("int8",),
            "help": "ONNX only: also write static INT8 buckets (default sizes 1,2,4,8,16)",
        },
    ),  # fmt: skip
    (
        ("--calibration",),
        {
            "type": Path,
            "metavar": "DATA_ROOT",
            "help": "COCO root whose train2017 persons calibrate --quantize",
        },
    ),  # fmt: skip
    (
        ("--calibration-persons",),
        {"type": int, "metavar": "N", "help": "person crops used for calibration (64)"},
    ),  # fmt: skip
    (
        ("--fuse-decode",),
        {
            "action": "store_true",
            "help": "graph returns (N, 17, 3) keypoints (argmax + quarter-pixel) instead of heatmaps",
        },
    ),  # fmt: skip
)
CONVERT_OPTIONS: tuple[Option, ...] = (
    (("source",), {"help": "PyTorch checkpoint (.pth / .pt, zip or legacy format)"}),
    (("--output",), {"required": True, "help": "MindSpore checkpoint (.ckpt) to write"}),
    (
        ("--layout",),
        {"choices": LAYOUT_CHOICES, "default": "auto", "help": "key layout (default: detect)"},
    ),  # fmt: skip
    (
        ("--config",),
        {
            "help": "preset or YAML giving the input size (default: res<depth>_256x192 from the weights)"
        },
    ),  # fmt: skip
)
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
EXPORT_DESCRIPTION = """\
Turn a pose checkpoint into a model directory the service loads: model.mindir (or
model.onnx) plus model.json (preset, sizes, channel order, mean/std, flip pairs,
source sha256, MindSpore version, bucket graphs, quantization). Each graph takes N
normalised crops and returns N heatmap stacks with the flip test inside (one 2N
batch, flip back, 1-px shift)."""
EXPORT_EPILOG = """\
examples:
  simplepose export --checkpoint r50.ckpt --output models/r50 --batch-sizes 1,2,4,8,16
  simplepose export --checkpoint r50.ckpt --output models/r50 --format onnx --batch-sizes 1,2,4,8,16
  simplepose export --checkpoint r50.ckpt --output models/r50-int8 --format onnx \\
      --quantize int8 --calibration data/coco
(the second command adds ONNX buckets next to the MindIR ones; see docs/fast-paths.md)"""
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
CONVERT_DESCRIPTION = """\
Read a PyTorch .pth/.pt (without torch; only tensors and plain containers are
unpickled, anything else is refused), map its layout to simplepose's names, check
every shape and save a .ckpt whose metadata records the config and the channel
order the weights expect (MSRA: BGR, mmpose/torchvision: RGB)."""
CONVERT_EPILOG = (
    "example: simplepose convert td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth"
    " --output r50.ckpt"
)


def _add_options(parser: argparse.ArgumentParser, options: tuple[Option, ...]) -> None:
    for flags, kwargs in options:
        parser.add_argument(*flags, **kwargs)


def _config(name: str | None):
    if name is None:
        return None
    from simplepose.config_loading import load_config

    return load_config(name)


def _batch_sizes(text: str | None) -> tuple[int, ...] | None:
    from simplepose.buckets import parse_batch_sizes

    if text is None:
        return None
    try:
        return parse_batch_sizes(text)
    except ValueError as exc:
        raise CLIError(f"--batch-sizes: {exc}") from exc


def _check_export_args(args: argparse.Namespace) -> None:
    if args.batch_size is not None and args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.quantize and args.format != "onnx":
        raise CLIError("--quantize int8 runs on ONNX Runtime: add --format onnx")
    if args.quantize and args.calibration is None:
        raise CLIError("--quantize int8 needs --calibration DATA_ROOT (a COCO root)")
    if args.calibration is not None and not args.quantize:
        raise CLIError("--calibration is only used with --quantize int8")
    if args.calibration_persons is not None and args.calibration_persons < 1:
        raise CLIError(f"--calibration-persons must be >= 1, got {args.calibration_persons}")


def _export(args: argparse.Namespace) -> int:
    from simplepose.export.exporter import export_model
    from simplepose.export.onnx_graph import MissingDependencyError

    _check_export_args(args)
    try:
        info = export_model(
            Path(args.checkpoint),
            Path(args.output),
            config=_config(args.config),
            flip=not args.no_flip,
            fmt=args.format,
            fuse_decode=args.fuse_decode,
            batch_size=args.batch_size,
            batch_sizes=_batch_sizes(args.batch_sizes),
            quantize=args.quantize,
            calibration=args.calibration,
            calibration_persons=args.calibration_persons,
        )
    except MissingDependencyError as exc:
        raise CLIError(str(exc)) from exc
    m = info.model
    buckets = ", ".join(
        f"{b.format}/{b.precision} b{b.batch_size}" for b in info.buckets
    )  # fmt: skip
    print(
        f"wrote {Path(args.output) / MODEL_FILES[info.format]} and model.json: "
        f"{info.config.name}, input {m.input_size[1]}x{m.input_size[0]} (HxW) {m.channel_order}, "
        f"flip {'fused' if info.flip_fused else 'off'}, outputs {info.outputs}, "
        f"batch {'dynamic' if info.batch_size is None else info.batch_size}"
        + (f"; buckets: {buckets}" if buckets else "")
    )
    return 0


def _convert(args: argparse.Namespace) -> int:
    from simplepose.export.convert import convert_checkpoint

    report = convert_checkpoint(
        Path(args.source), Path(args.output), layout=args.layout, config=_config(args.config)
    )
    print(report.summary())
    return 0


def _weights_list(args: argparse.Namespace) -> int:
    from simplepose.export.layouts import CHANNEL_ORDER

    from simplepose.weights import AP_NOTE, DEFAULT_MODEL, REGISTRY

    print(f"{'name':<24} {'kind':<9} {'layout':<12} {'input':<8} {'order':<5} {'AP':>5}  sha256")
    for e in REGISTRY.values():
        ap = f"{e.published_ap:.1f}" if e.published_ap is not None else "  -"
        star = " (default)" if e.name == DEFAULT_MODEL else ""
        size = e.preset.replace("-", "_").split("_")[1] if e.preset else "-"
        order = CHANNEL_ORDER.get(e.layout, "-")
        sha = e.sha256[:16] + "..." if e.verified else "UNVERIFIED (no public full digest)"
        print(f"{e.name:<24} {e.kind:<9} {e.layout or '-':<12} {size:<8} {order:<5} {ap:>5}  "
              f"{sha}{star}\n{'':<24} licence: {e.licence}")  # fmt: skip
    print(f"AP: {AP_NOTE}. torchvision entries are ImageNet backbones (training init only).")
    print("UNVERIFIED: the digest is recorded at the first download and enforced afterwards "
          "(pose entries also check the 8-digit hash prefix of their file name).")  # fmt: skip
    print("detector entries: person detectors for 'simplepose serve --detector NAME'.")
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
    from simplepose.backends import choose_backend
    from simplepose.model_info import ModelInfo
    from simplepose.network.device import default_device
    from simplepose.network.onnx_runtime import onnxruntime_installed

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

    from simplepose.weights import WeightsUnavailable, lookup

    entry = lookup(args.name)
    sizes = _batch_sizes(args.batch_sizes)
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
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "export",
        help="write model.mindir (flip test fused) + model.json for the service",
        formatter_class=raw,
        description=EXPORT_DESCRIPTION,
        epilog=EXPORT_EPILOG,
    )
    _add_options(p, EXPORT_OPTIONS)
    p.set_defaults(func=_export)

    p = sub.add_parser(
        "convert",
        help="convert a public PyTorch checkpoint to a MindSpore pose checkpoint",
        formatter_class=raw,
        description=CONVERT_DESCRIPTION,
        epilog=CONVERT_EPILOG,
    )
    _add_options(p, CONVERT_OPTIONS)
    p.set_defaults(func=_convert)

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
        formatter_class=raw,
    )
    _add_options(g, WEIGHTS_GET_OPTIONS)
    g.set_defaults(func=_weights_get)
