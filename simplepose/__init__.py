"""simplepose: SimpleBaselines human pose estimation on MindSpore.

    from simplepose import PoseEstimator

    estimator = PoseEstimator("models/r50")
    poses = estimator("photo.jpg")

Importing the package sets two environment defaults that only work before MindSpore loads, so
they happen here, at import time of the core package that every entry point imports first:

* ``ONEDNN_MAX_CPU_ISA=AVX2``: on AVX-512 CPUs MindSpore's convolutions otherwise fall back to a
  reference kernel that is ~70x slower.
* ``GLOG_v=3``: MindSpore's own log level ERROR. Its WARNING lines are about MindSpore's
  internals (e.g. deprecated primitives that ``nn.Adam`` builds), not about the user's run.
  Set ``GLOG_v=2`` (or run ``simplepose -v``) to see them.

A value the user set in the environment always wins.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

CPU_ISA_ENV = "ONEDNN_MAX_CPU_ISA"
CPU_ISA_DEFAULT = "AVX2"
MINDSPORE_LOG_ENV = "GLOG_v"
MINDSPORE_LOG_ERROR = "3"  # glog levels: 0 debug, 1 info, 2 warning, 3 error
MINDSPORE_LOG_WARNING = "2"

MINDSPORE_LOG_USER_SET = MINDSPORE_LOG_ENV in os.environ
os.environ.setdefault(CPU_ISA_ENV, CPU_ISA_DEFAULT)
os.environ.setdefault(MINDSPORE_LOG_ENV, MINDSPORE_LOG_ERROR)

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
