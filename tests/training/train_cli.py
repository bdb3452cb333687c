"""Command line of ``simplepose train`` for the tests that run it as a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

from simplepose.config.presets import Config


def train_cli_command(
    root: Path, run: Path, config: Config, batch_size: int, epochs: int, *extra: str
) -> list[str]:
    """``simplepose train`` on ``root`` with the tiny network of ``config`` (CLI subprocess)."""
    m = config.model
    return [
        str(Path(sys.executable).with_name("simplepose")),
        "train", *extra, "--config", "res18_128x96", "--data", str(root), "--output", str(run),
        f"model.input_size=[{m.input_size[0]},{m.input_size[1]}]",
        f"model.heatmap_size=[{m.heatmap_size[0]},{m.heatmap_size[1]}]",
        f"model.deconv_channels={m.deconv_channels}",
        f"train.batch_size={batch_size}", f"train.epochs={epochs}", "train.log_every=1",
        "data.num_workers=1",
    ]  # fmt: skip
