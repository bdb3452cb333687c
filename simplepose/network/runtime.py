"""Load a model (exported directory or checkpoint) and run batches of crops on MindSpore.

A MindSpore graph must not be called from two threads at once (it crashed the process when
tried), so every model serialises its calls with a lock; the service batches requests instead.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

from simplepose.config import Config
from simplepose.model_info import MODEL_FILES, MODEL_JSON, ModelInfo
from simplepose.network.checkpoint import build_network
from simplepose.network.pose_net import FlipTestNet


class InputShapeError(ValueError):
    """A batch whose shape or dtype the model does not accept."""


def check_batch(batch: np.ndarray, info: ModelInfo) -> None:
    """Reject a batch that is not ``(N, 3, H, W)`` float32 with the model's H, W, before it
    reaches the runtime (which fails deep inside with an unhelpful message)."""
    w, h = info.model.input_size
    if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
        raise InputShapeError(
            f"expected a float32 array, got {getattr(batch, 'dtype', type(batch))}"
        )
    if batch.ndim != 4 or batch.shape[1:] != (3, h, w) or batch.shape[0] < 1:
        raise InputShapeError(f"expected input of shape (N>=1, 3, {h}, {w}), got {batch.shape}")


class _LockedModel(ABC):
    info: ModelInfo

    def __init__(self, info: ModelInfo):
        self.info = info
        self._lock = threading.Lock()

    @abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """One device call on a batch the graph accepts."""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        check_batch(batch, self.info)
        fixed = self.info.batch_size
        with self._lock:
            if fixed is None:
                return self._run(batch)
            return self._run_fixed(batch, fixed)

    def _run_fixed(self, batch: np.ndarray, fixed: int) -> np.ndarray:
        """Pad or split to a graph that only accepts ``fixed`` crops per call."""
        outputs = []
        for start in range(0, len(batch), fixed):
            chunk = batch[start : start + fixed]
            real = len(chunk)
            if real < fixed:
                chunk = np.concatenate(
                    [chunk, np.zeros((fixed - real, *chunk.shape[1:]), chunk.dtype)]
                )
            outputs.append(self._run(chunk)[:real])
        return np.concatenate(outputs)


def _exported(directory: str | Path, fmt: str) -> tuple[ModelInfo, Path]:
    """``model.json`` of an export directory and the path of its ``fmt`` graph file."""
    directory = Path(directory)
    info = ModelInfo.load(directory)
    path = directory / MODEL_FILES[fmt]
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (model.json says format {info.format!r})")
    return info, path


class MindIRModel(_LockedModel):
    """An exported ``model.mindir`` run through ``nn.GraphCell``."""

    def __init__(self, directory: str | Path):
        info, path = _exported(directory, "mindir")
        super().__init__(info)
        self.graph = nn.GraphCell(ms.load(str(path)))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.graph(ms.Tensor(batch)).asnumpy()


class OnnxModel(_LockedModel):
    """An exported ``model.onnx`` run by ONNX Runtime on CPU (fixed batch: padded/split)."""

    def __init__(self, directory: str | Path):
        info, path = _exported(directory, "onnx")
        try:
            import onnxruntime
        except ImportError as exc:
            raise RuntimeError(
                "ONNX models need onnxruntime: pip install 'simplepose[onnx]'"
            ) from exc
        super().__init__(info)
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self._input = self.session.get_inputs()[0].name

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: batch})[0]


class CheckpointModel(_LockedModel):
    """A pose checkpoint run eagerly, with the flip test fused as in the exported graph."""

    def __init__(self, path: str | Path, flip: bool | None = None, config: Config | None = None):
        net, config, meta = build_network(path, config)
        flip = config.test.flip_test if flip is None else flip
        self.net = FlipTestNet(net, config.model.num_joints) if flip else net
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
    path: str | Path, flip: bool | None = None, config: Config | None = None
) -> _LockedModel:
    """A model directory (``model.json`` + graph) or a ``.ckpt`` file -> a callable model.

    ``flip`` and ``config`` apply to checkpoints only (``flip=None``: the config's
    ``test.flip_test``); an exported graph says in its ``model.json`` whether the flip test is
    fused.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / MODEL_JSON).is_file():
            raise FileNotFoundError(f"{path} has no {MODEL_JSON}: not an exported model directory")
        info = ModelInfo.load(path)
        if info.format == "mindir":
            return MindIRModel(path)
        if info.format == "onnx":
            return OnnxModel(path)
        raise ValueError(f"{path}: model format {info.format!r} is not loadable by MindSpore here")
    if path.suffix == ".ckpt":
        return CheckpointModel(path, flip=flip, config=config)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    raise ValueError(f"{path}: expected an exported model directory or a .ckpt checkpoint")
