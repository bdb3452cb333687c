"""Subcommands of the training stage: ``train`` here, ``evaluate`` in ``evaluate_cli``.

MindSpore is imported inside the handlers only, so ``simplepose --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from simplepose.commandline.errors import CLIError
from simplepose.training import evaluate_cli
from simplepose.training.cli_args import (
    add_dataset_arg,
    add_device_args,
    data_source,
    keypoints_for,
)
from simplepose.training.init_from import add_init_from_arg, cli_source

log = logging.getLogger(__name__)
DEFAULT_PRESET = "res50_256x192"
DEFAULT_MASTER_PORT = 8118
LOCAL_MASTER = "127.0.0.1"
WORKER_SCRIPT = Path(__file__).with_name("worker.py")
EXIT_STOPPED = 130

TRAIN_EPILOG = """\
examples:
  # seed recipe (R50 256x192, Adam 1e-3, 140 epochs), one device
  simplepose train --config res50_256x192 --data /data/coco --output runs/r50 --val-split val2017
  # 8 Ascend devices, data parallel (batch 64 per device)
  simplepose train --devices 8 --device Ascend --config res50_256x192 --data /data/coco \\
      --output runs/r50x8 train.amp_level=O2
  # continue a run (after Ctrl-C, SIGTERM or --max-steps) with its optimiser state and schedule
  simplepose train --resume runs/r50
  # change recipe values with section.key=value overrides
  simplepose train --config res18_128x96 --data coco-mini --output runs/t train.epochs=10
  # your own keypoints: a dataset file (docs/training.md), checked first as by 'data check'
  simplepose train --config res18_128x96 --dataset factory9.yaml --output runs/f9 --val-split val
  # fine-tune a pose model (a .ckpt, a run or model directory, or a registry name)
  simplepose train --init-from mmpose1-res50-256x192 --data /data/mine --output runs/ft \
      train.lr=1e-4 train.epochs=20

The run directory gets config.yaml (resolved config), last.ckpt (every epoch), best.ckpt (best
val AP, with --val-split), last_state.ckpt (optimiser state for --resume), metrics.jsonl and
TensorBoard event files (tensorboard --logdir runs), and when the run ends results.png (loss,
learning rate and AP curves) and predictions.jpg (validation images with predicted skeletons).
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``train`` and ``evaluate`` (see ``evaluate_cli``). A weights-registry name given to
    ``--init-from`` becomes a pose checkpoint through ``args.builders.checkpoint`` (the hub's
    ``Builders``, which the composition root sets; without it only files and directories)."""
    text = "train SimpleBaselines on COCO keypoints and write checkpoints"
    p = sub.add_parser(
        "train",
        help=text,
        description=text,
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_args(p)
    add_device_args(p)
    _add_cluster_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.lr=5e-4"
    )
    p.set_defaults(func=run_train)
    evaluate_cli.add_parser(sub)


def _add_run_args(p: argparse.ArgumentParser) -> None:
    """What to train on, where the run lives, and when it saves, validates and stops."""
    p.add_argument(
        "--config",
        default=None,
        help=f"preset name (e.g. res50_256x192, res18_128x96) or YAML file (default {DEFAULT_PRESET})",
    )
    p.add_argument("--data", type=Path, help="COCO root: annotations/ and <split>/ image folders")
    add_dataset_arg(p)
    p.add_argument("--output", type=Path, help="run directory to create")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run")
    p.add_argument(
        "--auto-resume",
        action="store_true",
        help="with --output: continue the run there if it already holds one (for schedulers "
        "that restart pods), else start it",
    )
    p.add_argument(
        "--train-split",
        default=None,
        help="training split (default train2017 of --data, train of --dataset)",
    )
    p.add_argument(
        "--val-split", default=None, help="evaluate on this split after each epoch; keeps best.ckpt"
    )
    p.add_argument(
        "--val-boxes", default="gt", help="'gt' or a detection-results JSON for --val-split"
    )
    p.add_argument("--val-every", type=int, default=1, help="epochs between validations")
    p.add_argument(
        "--save-every", type=int, default=1, help="epochs between last.ckpt writes (default 1)"
    )
    p.add_argument(
        "--pretrained",
        type=Path,
        default=None,
        help="MindSpore checkpoint with backbone weights (e.g. converted torchvision ResNet)",
    )
    add_init_from_arg(p)
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop after this many steps, writing a resumable checkpoint",
    )


def _add_cluster_args(p: argparse.ArgumentParser) -> None:
    """Data parallel with msrun: devices on this host, hosts in the job (``msrun_command``)."""
    p.add_argument(
        "--devices",
        type=int,
        default=1,
        help="data-parallel workers launched with msrun (one per device; default 1)",
    )
    p.add_argument(
        "--print-command", action="store_true", help="with --devices: print the msrun command only"
    )
    p.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="hosts taking part; each runs this command with its --node-rank (default 1)",
    )
    p.add_argument(
        "--node-rank", type=int, default=0, help="this host's index, 0..nodes-1 (default 0)"
    )
    p.add_argument(
        "--master-addr",
        default=None,
        help=f"address or DNS name of node 0, where msrun's scheduler runs (default "
        f"{LOCAL_MASTER} with one node; required with --nodes > 1)",
    )
    p.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT, help="msrun port")


def _worker_argv(args: argparse.Namespace) -> list[str]:
    """The ``train`` arguments each msrun worker receives (everything but --devices)."""
    argv: list[str] = []
    for flag, value in (
        ("--config", args.config),
        ("--data", args.data),
        ("--dataset", args.dataset),
        ("--output", args.output),
        ("--resume", args.resume),
        ("--train-split", args.train_split),
        ("--val-split", args.val_split),
        ("--val-boxes", args.val_boxes),
        ("--val-every", args.val_every),
        ("--save-every", args.save_every),
        ("--device", args.device),
        ("--pretrained", args.pretrained),
        ("--init-from", args.init_from),
        ("--max-steps", args.max_steps),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return [*argv, "--no-progress", *args.overrides]


def msrun_command(args: argparse.Namespace, run_dir: Path) -> list[str]:
    """msrun for this host: ``devices`` workers here, ``devices * nodes`` in the whole job."""
    msrun = Path(sys.executable).with_name("msrun")
    logs = run_dir / "msrun_logs"
    multi_node: list[str] = []
    if args.nodes > 1:
        logs = logs / f"node{args.node_rank}"  # the run directory is shared by the hosts
        multi_node = [f"--node_rank={args.node_rank}", f"--master_addr={args.master_addr}"]
    return [
        str(msrun),
        f"--worker_num={args.devices * args.nodes}",
        f"--local_worker_num={args.devices}",
        *multi_node,
        f"--master_port={args.master_port}",
        f"--log_dir={logs}",
        "--join=True",
        str(WORKER_SCRIPT),
        *_worker_argv(args),
    ]


def _stopped_on_request(run_dir: Path, since: float) -> bool:
    """Did the workers of this launch stop on a signal (a ``stop`` record in the metrics)?"""
    from simplepose.training.run_dir import METRICS_FILE, read_metrics

    for path in run_dir.glob(f"{Path(METRICS_FILE).stem}*.jsonl"):
        if any(r["kind"] == "stop" and r["time"] >= since for r in read_metrics(path)):
            return True
    return False


def _check_cluster(args: argparse.Namespace) -> None:
    if args.devices < 1:
        raise CLIError(f"--devices must be >= 1, got {args.devices}")
    if args.nodes < 1:
        raise CLIError(f"--nodes must be >= 1, got {args.nodes}")
    if not 0 <= args.node_rank < args.nodes:
        raise CLIError(f"--node-rank must be in 0..{args.nodes - 1}, got {args.node_rank}")
    if args.nodes > 1 and not args.master_addr:
        raise CLIError("--nodes > 1 needs --master-addr: the address or DNS name of node 0")
    if args.master_addr is None:
        args.master_addr = LOCAL_MASTER
    if not 1024 <= args.master_port <= 65535:
        raise CLIError(f"--master-port must be in 1024..65535, got {args.master_port}")


def _launch(args: argparse.Namespace, run_dir: Path) -> int:
    cmd = msrun_command(args, run_dir)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if args.print_command:
        print(f"PATH={Path(sys.executable).parent}:$PATH " + " ".join(cmd))
        return 0
    where = f" on node {args.node_rank} of {args.nodes}" if args.nodes > 1 else ""
    print(f"launching {args.devices} workers{where}: {' '.join(cmd)}", file=sys.stderr)
    started = time.time()
    proc = subprocess.Popen(cmd, env=env)
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        # The workers stop after an agreed step and checkpoint; wait for them, then report it.
        received.append(signum)
        proc.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    code = proc.wait()
    if received or (code != 0 and _stopped_on_request(run_dir, started)):
        return EXIT_STOPPED  # msrun reports the workers' stop status 130 as a failure
    if code != 0:
        log_dir = next(a.split("=", 1)[1] for a in cmd if a.startswith("--log_dir="))
        raise CLIError(
            f"the distributed job failed (msrun exit code {code}): a worker or another node "
            f"stopped or could not be reached; logs: {log_dir}. Checkpoints written so far are "
            f"kept: relaunch every node with --auto-resume (or --resume {run_dir})"
        )
    return code


def _auto_resume(args: argparse.Namespace) -> None:
    """--auto-resume: turn ``--output RUN`` into ``--resume RUN`` when RUN holds a resumable run."""
    from simplepose.training.run_dir import CONFIG_FILE, STATE_CKPT

    if args.output is None or args.resume is not None:
        raise CLIError("--auto-resume goes with --output RUN_DIR (and without --resume)")
    if (args.output / CONFIG_FILE).is_file() and (args.output / STATE_CKPT).is_file():
        log.info("%s holds a run: resuming it (--auto-resume)", args.output)
        args.resume, args.config = args.output, None


def run_train(args: argparse.Namespace) -> int:
    from simplepose.config.loading import load_config
    from simplepose.training.run_dir import load_run_config

    _check_cluster(args)
    if args.auto_resume:
        _auto_resume(args)
    if args.save_every < 1 or args.val_every < 1:
        raise CLIError("--save-every and --val-every must be >= 1")
    if args.max_steps is not None and args.max_steps < 1:
        raise CLIError(f"--max-steps must be >= 1, got {args.max_steps}")
    if args.resume is not None:
        if args.config is not None:
            raise CLIError("--config cannot be combined with --resume (the run's config is used)")
        if args.output is not None and args.output != args.resume:
            raise CLIError("--output and --resume name different run directories")
        config = load_run_config(args.resume, args.overrides)
        if args.overrides:
            log.warning("resuming with overrides: %s", " ".join(args.overrides))
        run_dir = args.resume
    else:
        config = load_config(args.config or DEFAULT_PRESET, args.overrides)
        if args.output is None:
            raise CLIError("--output RUN_DIR is required for a new run")
        run_dir = args.output
    if args.data is None and args.dataset is None and args.resume is not None:
        raise CLIError("--data ROOT or --dataset FILE is required (the run does not store it)")
    args.train_split = args.train_split or ("train" if args.dataset else "train2017")
    splits = [args.train_split, *([args.val_split] if args.val_split else [])]
    data = data_source(args.data, args.dataset, splits)
    config = keypoints_for(config, data, resumed=args.resume is not None)
    if args.init_from is not None:
        args.init_from = cli_source(args)
    if args.devices > 1 or args.nodes > 1:
        return _launch(args, run_dir)

    from simplepose.training.trainer import TrainOptions, train

    options = TrainOptions(
        data_root=data,
        run_dir=run_dir,
        train_split=args.train_split,
        val_split=args.val_split,
        val_boxes=args.val_boxes,
        val_every=args.val_every,
        save_every=args.save_every,
        device=args.device,
        device_id=args.device_id,
        resume=args.resume is not None,
        pretrained=args.pretrained,
        init_from=args.init_from,
        max_steps=args.max_steps,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    summary = train(config, options)
    s = summary.state
    where = f"epoch {s.epoch}/{config.train.epochs}, global step {s.global_step}"
    if summary.rank == 0:
        print(
            f"{'stopped' if summary.stopped else 'finished'}: {where}, last loss "
            f"{summary.last_loss:.6f}, {summary.steps} steps in {summary.seconds:.1f} s; "
            f"checkpoints in {summary.run_dir}"
        )
        if summary.skipped:
            print(f"skipped data: {summary.skipped}")
        if summary.stopped and s.epoch < config.train.epochs:
            where = f"--dataset {data}" if args.dataset else f"--data {data}"
            print(f"continue with: simplepose train --resume {summary.run_dir} {where}")
    return EXIT_STOPPED if summary.signal else 0
