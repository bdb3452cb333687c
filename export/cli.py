"""Subcommands of the export stage: ``export`` and ``convert`` (``weights list|get`` are in
``weights_cli``, which shares this module's option helpers).

Options are tables (flags, argparse keywords) so each command reads at a glance; choices come
from the modules that define them. MindSpore is imported inside the handlers only, so
``simplepose --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simplepose.commandline.errors import CLIError
from simplepose.config.model_info import MODEL_FILES
from simplepose.export.exporter import EXPORT_FORMATS
from simplepose.export.layouts import LAYOUT_CHOICES
from simplepose.runtime.buckets import DEFAULT_BATCH_SIZES

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
    (
        ("--dataset",),
        {
            "type": Path,
            "default": None,
            "help": "dataset file whose keypoints section names the weights' keypoints (needed "
            "unless they are COCO's 17, e.g. 16-point MPII or 133-point WholeBody)",
        },
    ),
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
CONVERT_DESCRIPTION = """\
Read a PyTorch .pth/.pt (without torch; only tensors and plain containers are
unpickled, anything else is refused), map its layout to simplepose's names, check
every shape and save a .ckpt whose metadata records the config and the channel
order the weights expect (MSRA: BGR, mmpose/torchvision: RGB)."""
CONVERT_EPILOG = """\
examples:
  simplepose convert td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth --output r50.ckpt
  # another keypoint set: the joint count comes from the weights, names etc. from the file
  simplepose convert td-hm_res50_8xb64-210e_mpii-256x256-*.pth --output mpii.ckpt \\
      --dataset mpii.yaml"""


def add_options(parser: argparse.ArgumentParser, options: tuple[Option, ...]) -> None:
    for flags, kwargs in options:
        parser.add_argument(*flags, **kwargs)


def _config(name: str | None):
    if name is None:
        return None
    from simplepose.config.loading import load_config

    return load_config(name)


def batch_sizes_option(text: str | None) -> tuple[int, ...] | None:
    from simplepose.runtime.buckets import parse_batch_sizes

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
            batch_sizes=batch_sizes_option(args.batch_sizes),
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

    keypoints = None
    if args.dataset is not None:
        if args.read_dataset is None:
            raise CLIError("--dataset is not available in this command line")
        keypoints = args.read_dataset(args.dataset).keypoints
    report = convert_checkpoint(
        Path(args.source),
        Path(args.output),
        layout=args.layout,
        config=_config(args.config),
        keypoints=keypoints,
    )
    print(report.summary())
    return 0


def add_parsers(
    sub: argparse._SubParsersAction, read_dataset: Callable[[Path], Any] | None = None
) -> None:
    """``export`` and ``convert``. ``read_dataset`` parses a dataset file into an object with a
    ``keypoints`` set (the composition root passes the training stage's reader)."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "export",
        help="write model.mindir (flip test fused) + model.json for the service",
        formatter_class=raw,
        description=EXPORT_DESCRIPTION,
        epilog=EXPORT_EPILOG,
    )
    add_options(p, EXPORT_OPTIONS)
    p.set_defaults(func=_export)

    p = sub.add_parser(
        "convert",
        help="convert a public PyTorch checkpoint to a MindSpore pose checkpoint",
        formatter_class=raw,
        description=CONVERT_DESCRIPTION,
        epilog=CONVERT_EPILOG,
    )
    add_options(p, CONVERT_OPTIONS)
    p.set_defaults(func=_convert, read_dataset=read_dataset)
