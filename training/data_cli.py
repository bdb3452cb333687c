"""``simplepose data check FILE``: counts and every problem of a dataset file's annotations."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXIT_PROBLEMS = 1  # the data has problems (2 stays the CLI's "could not run at all")

DATA_EPILOG = """\
examples:
  simplepose data check factory9.yaml
  simplepose data check factory9.yaml --json report.json

The dataset file format (annotation files, image folders, keypoint names, flip pairs, skeleton,
OKS sigmas) is in docs/training.md. 'simplepose train --dataset FILE' runs the same check first.
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    text = "inspect training data described by a dataset file"
    data = sub.add_parser("data", help=text, description=text)
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    check_text = "count images, instances and labelled keypoints, and list every problem"
    check = actions.add_parser(
        "check",
        help=check_text,
        description=check_text + " (with its file and image or annotation id); exits 1 when "
        "there is any.",
        epilog=DATA_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", type=Path, metavar="FILE", help="dataset file (YAML)")
    check.add_argument(
        "--json", type=Path, default=None, help="also write the counts and problems here"
    )
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from simplepose.training.data_check import check_dataset

    report = check_dataset(args.file)
    print(report.describe())
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return 0 if report.ok else EXIT_PROBLEMS
