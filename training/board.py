"""TensorBoard event files of a run (``tensorboard --logdir runs/``), written with tensorboardX
(pure Python + protobuf: no torch or TensorFlow in the training environment).

Scalars, by global step: ``train/loss`` and ``train/lr`` at every logged step, ``epoch/loss``
(mean over the epoch) and ``val/AP`` after each validation. The event files sit in the run
directory beside ``metrics.jsonl``, which holds the same numbers as JSON lines.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
INSTALL_HINT = "pip install 'simplepose[train]'"
# metrics.jsonl record kind -> (field, TensorBoard tag)
SCALARS: dict[str, tuple[tuple[str, str], ...]] = {
    "step": (("loss", "train/loss"), ("lr", "train/lr")),
    "epoch": (("loss", "epoch/loss"), ("val_ap", "val/AP")),
}


class Board:
    """Forwards metrics records to a TensorBoard event file in ``run_dir`` (created on first
    use). Without tensorboardX installed it warns once and writes nothing."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._writer: Any = None
        self._unavailable = False

    def _open(self) -> Any:
        if self._writer is None and not self._unavailable:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                self._unavailable = True
                log.warning("tensorboardX is not installed: no TensorBoard events (%s)",
                            INSTALL_HINT)  # fmt: skip
                return None
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(logdir=str(self.run_dir), flush_secs=10)
        return self._writer

    def record(self, kind: str, values: dict[str, Any]) -> None:
        """Write the scalars of one ``metrics.jsonl`` record (see ``SCALARS``)."""
        step = values.get("global_step")
        fields = [
            (tag, float(v))
            for key, tag in SCALARS.get(kind, ())
            if isinstance(v := values.get(key), int | float)
        ]
        if step is None or not fields:
            return
        writer = self._open()
        if writer is None:
            return
        for tag, value in fields:
            writer.add_scalar(tag, value, int(step))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
