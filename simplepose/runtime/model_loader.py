"""Load a model (exported directory or checkpoint) and run batches of crops on MindSpore, or
hand an exported directory to ONNX Runtime (``simplepose.runtime.onnx_model``).

A MindSpore graph must not be called from two threads at once (it crashed the process when
tried), so every model serialises its calls with a lock; the service batches requests instead.
"""

from __future__ import annotations

from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

from simplepose.config.model_info import MODEL_JSON, ModelInfo
from simplepose.config.presets import Config
from simplepose.network.checkpoint import build_network
from simplepose.network.pose_net import FlipTestNet
from simplepose.runtime.backends import BACKEND_SPECS, choose_backend
from simplepose.runtime.device import configure_cpu_threads
from simplepose.runtime.locked_model import InputShapeError, LockedModel, graph_files
from simplepose.runtime.onnx_model import OnnxModel, onnxruntime_installed
from simplepose.runtime.threads import thread_settings

__all__ = [
    "CheckpointModel",
    "InputShapeError",
    "LockedModel",
    "MindIRModel",
    "OnnxModel",
    "load_model",
]


class MindIRModel(LockedModel):
    """Exported MindIR graph(s) run through ``nn.GraphCell``: the dynamic-batch ``model.mindir``
    or one static-shape graph per bucket."""

    def __init__(self, directory: str | Path, backend: str = "mindspore-dynamic"):
        directory = Path(directory)
        info = ModelInfo.load(directory)
        spec = BACKEND_SPECS[backend]
        files = graph_files(directory, info, spec)
        sizes = [n for n in files if n is not None]
        super().__init__(info, sizes or None)
        self.backend = spec.name
        self.graphs = {n: nn.GraphCell(ms.load(str(p))) for n, p in files.items()}

    def _run(self, batch: np.ndarray) -> np.ndarray:
        graph = self.graphs[len(batch) if len(batch) in self.graphs else None]
        return graph(ms.Tensor(batch)).asnumpy()


class CheckpointModel(LockedModel):
    """A pose checkpoint run eagerly, with the flip test fused as in the exported graph."""

    def __init__(self, path: str | Path, flip: bool | None = None, config: Config | None = None):
        net, config, meta = build_network(path, config)
        flip = config.test.flip_test if flip is None else flip
        self.net = FlipTestNet(net, config.keypoints.flip_index()) if flip else net
        self.net.set_train(False)
        info = ModelInfo(
            config=config,
            format="checkpoint",
            flip_fused=flip,
            source_checkpoint=str(path),
            mindspore_version=ms.__version__,
            demo=bool(meta.get("demo", False)),
        )
        super().__init__(info)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.net(ms.Tensor(batch)).asnumpy()


def load_model(
    path: str | Path,
    flip: bool | None = None,
    config: Config | None = None,
    backend: str = "auto",
    threads: int | None = None,
) -> LockedModel:
    """A model directory (``model.json`` + graphs) or a ``.ckpt`` file -> a callable model.

    ``flip`` and ``config`` apply to checkpoints only (``flip=None``: the config's
    ``test.flip_test``); an exported graph says in its ``model.json`` whether the flip test is
    fused. ``backend`` (``simplepose.runtime.backends``) picks the runtime of a directory; ``auto``
    chooses for the current MindSpore device. ``threads``: CPU intra-op threads (default:
    ``simplepose.runtime.threads``).
    """
    path = Path(path)
    if path.is_dir():
        if not (path / MODEL_JSON).is_file():
            raise FileNotFoundError(f"{path} has no {MODEL_JSON}: not an exported model directory")
        info = ModelInfo.load(path)
        if info.format == "checkpoint":
            raise ValueError(f"{path}: model format 'checkpoint' is not an exported directory")
        device = ms.get_context("device_target")
        spec = choose_backend(info, device, backend, onnxruntime_installed())
        if spec.runtime == "onnxruntime":
            return OnnxModel(path, spec.name, threads)
        if device == "CPU":
            configure_cpu_threads(thread_settings(threads))
        return MindIRModel(path, spec.name)
    if path.suffix == ".ckpt":
        if ms.get_context("device_target") == "CPU":
            configure_cpu_threads(thread_settings(threads))
        return CheckpointModel(path, flip=flip, config=config)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    raise ValueError(f"{path}: expected an exported model directory or a .ckpt checkpoint")
