"""Pieces the training stage's subcommands share: device options and the data checks
(``--data ROOT`` or ``--dataset FILE``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from simplepose.commandline.errors import CLIError
from simplepose.config.presets import DEVICES, Config
from simplepose.pose.keypoints import COCO17
from simplepose.training.dataset_file import DatasetFile

SHOWN_PROBLEMS = 10  # dataset problems a refusal lists (data check lists them all)


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
        raise CLIError(
            "--data ROOT (a COCO root with annotations/ and images) or --dataset FILE is required"
        )
    check_root(root, split)
    return root


def add_dataset_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        type=Path,
        default=None,
        metavar="FILE",
        help="dataset file (YAML): annotation files, image folders and keypoint set of your own "
        "data (docs/training.md); instead of --data",
    )


def open_dataset(path: Path, splits: list[str]) -> DatasetFile:
    """The dataset file at ``path``, checked by ``simplepose data check``'s rules: any problem
    is a ``CLIError`` listing the first ones."""
    from simplepose.training.coco import check_root
    from simplepose.training.data_check import check_dataset
    from simplepose.training.dataset_file import load_dataset_file

    report = check_dataset(path)
    if not report.ok:
        shown = "\n  ".join(str(p) for p in report.problems[:SHOWN_PROBLEMS])
        more = report.total_problems - min(len(report.problems), SHOWN_PROBLEMS)
        raise CLIError(
            f"{path} has {report.total_problems} problems; fix them first "
            f"(all of them: simplepose data check {path}):\n  {shown}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    dataset = load_dataset_file(path)
    for split in splits:
        try:
            check_root(dataset, split)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    return dataset


def data_source(data: Path | None, dataset: Path | None, splits: list[str]) -> Path | DatasetFile:
    """``--data ROOT`` or ``--dataset FILE`` (exactly one), checked for ``splits``."""
    if data is not None and dataset is not None:
        raise CLIError("give --data ROOT or --dataset FILE, not both")
    if dataset is not None:
        return open_dataset(dataset, splits)
    for split in splits:
        check_data(data, split)
    assert data is not None
    return data


def keypoints_for(config: Config, data: Path | DatasetFile, resumed: bool) -> Config:
    """``config`` for the keypoint set of ``data``: a new run takes a dataset file's set; a
    resumed run (or COCO data) must already have it."""
    wanted = data.keypoints if isinstance(data, DatasetFile) else COCO17
    if config.keypoints == wanted:
        return config
    if isinstance(data, DatasetFile) and not resumed:
        return config.with_keypoints(wanted)
    raise CLIError(
        f"the config's keypoint set {config.keypoints.name!r} ({config.keypoints.num_keypoints} "
        f"keypoints) is not the data's {wanted.name!r} ({wanted.num_keypoints})"
    )
