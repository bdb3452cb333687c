"""Pieces the training stage's subcommands share: device options and the data-root check."""

from __future__ import annotations

import argparse
from pathlib import Path

from simplepose.commandline.errors import CLIError
from simplepose.config.presets import DEVICES


def add_device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        choices=DEVICES,
        default=None,
        help="MindSpore device (default: Ascend when an NPU is visible, else CPU)",
    )
    p.add_argument("--device-id", type=int, default=0, help="device index (default 0)")


def check_data(root: Path | None, split: str) -> Path:
    from simplepose.training.coco import check_root

    if root is None:
        raise CLIError("--data ROOT is required (a COCO root with annotations/ and images)")
    check_root(root, split)
    return root
