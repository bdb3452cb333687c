"""simplepose: SimpleBaselines human pose estimation on MindSpore.

    from simplepose import PoseEstimator

    estimator = PoseEstimator("models/r50")
    poses = estimator("photo.jpg")

MindSpore's environment defaults (the oneDNN ISA cap, its log level) are set only when MindSpore
is about to load (``simplepose.runtime.mindspore_env``): a process that serves an ONNX model keeps
its environment as the user set it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simplepose.runtime.mindspore_env import install_import_hook

install_import_hook()

__version__ = "0.1.0"
__all__ = ["Person", "PoseEstimator", "Poses", "__version__"]

if TYPE_CHECKING:
    from simplepose.estimator import Person, PoseEstimator, Poses


def __getattr__(name: str) -> Any:
    """Load the public API on first use, so ``import simplepose`` (every CLI start) stays light."""
    if name in ("Person", "PoseEstimator", "Poses"):
        from simplepose import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'simplepose' has no attribute {name!r}")
