"""Layout of a training run directory and its resume state.

``config.yaml`` (resolved config), ``last.ckpt`` / ``best.ckpt`` (network only, loadable with
``simplepose.network.checkpoint.build_network``), ``last_state.ckpt`` (optimiser moments, step
counter, epoch position), ``metrics.jsonl`` (one JSON object per line), TensorBoard event files
(``simplepose.training.board``), and at the end ``results.png`` and ``predictions.jpg``
(``simplepose.training.report``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from simplepose.config.loading import load_config
from simplepose.config.presets import Config

CONFIG_FILE = "config.yaml"
LAST_CKPT = "last.ckpt"
BEST_CKPT = "best.ckpt"
STATE_CKPT = "last_state.ckpt"
METRICS_FILE = "metrics.jsonl"
RESULTS_PNG = "results.png"
PREDICTIONS_JPG = "predictions.jpg"
STATE_KEY = "simplepose_train_state"


@dataclass(frozen=True)
class RunState:
    """Where training stands: ``epoch`` epochs are complete and ``step_in_epoch`` batches of
    the next one are done; ``global_step`` optimiser steps in all."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_ap: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunState:
        return cls(**json.loads(text))


def metrics_name(rank: int) -> str:
    return METRICS_FILE if rank == 0 else f"metrics_rank{rank}.jsonl"


def load_run_config(run_dir: str | Path, overrides: Iterable[str] = ()) -> Config:
    """The resolved config a run directory was started with (``--resume``), plus overrides."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a training run directory?")
    return load_config(path, overrides)  # the saved config is complete


class MetricsWriter:
    """Appends one JSON object per line, flushed, with a wall-clock time stamp; passes each
    record on to ``board`` (TensorBoard events, ``simplepose.training.board``) when given."""

    def __init__(self, path: Path | None, board: Any = None):
        self.path = path
        self.board = board
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        if self.board is not None:
            self.board.close()

    def write(self, kind: str, **values: Any) -> None:
        if self.path is None:
            return
        record = {"kind": kind, "time": round(time.time(), 3), **values}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.board is not None:
            self.board.record(kind, values)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
