"""The environment MindSpore reads once, when it loads, set then and only then.

* ``ONEDNN_MAX_CPU_ISA=AVX2``: on AVX-512 CPUs MindSpore's convolutions otherwise fall back to a
  reference kernel that is ~70x slower (REFERENCE.md, "CPU speed trap").
* ``GLOG_v=3``: MindSpore's own log level ERROR. Its WARNING lines are about MindSpore's
  internals (e.g. deprecated primitives that ``nn.Adam`` builds), not about the user's run.
  Set ``GLOG_v=2`` (or run ``simplepose -v``) to see them.

A value the user set always wins. Both are process-wide, and the oneDNN cap also slows every
other oneDNN user of the process (PyTorch, OpenVINO), so a process that never loads MindSpore
(serving or predicting an ONNX model) keeps its environment untouched.

``import simplepose`` installs ``install_import_hook``: a ``sys.meta_path`` finder that calls
``prepare_mindspore`` when ``import mindspore`` is first attempted, wherever it is written
(network/, runtime/, the training and export stages). An import hook rather than a call before
each ``import mindspore``: import sorting moves module-level imports above any such call, and a
forgotten call would bring the ~70x slowdown back silently.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

CPU_ISA_ENV = "ONEDNN_MAX_CPU_ISA"
CPU_ISA_DEFAULT = "AVX2"
MINDSPORE_LOG_ENV = "GLOG_v"
MINDSPORE_LOG_ERROR = "3"  # glog levels: 0 debug, 1 info, 2 warning, 3 error
MINDSPORE_LOG_WARNING = "2"
MINDSPORE = "mindspore"


def prepare_mindspore() -> None:
    """Set MindSpore's environment defaults (see the module docstring); call before it loads."""
    os.environ.setdefault(CPU_ISA_ENV, CPU_ISA_DEFAULT)
    os.environ.setdefault(MINDSPORE_LOG_ENV, MINDSPORE_LOG_ERROR)


class MindSporeMissing(ValueError):
    """The model or step needs MindSpore, which this installation lacks (the base install serves
    exported ONNX models only); the message says what to install or export instead."""


def mindspore_installed() -> bool:
    return MINDSPORE in sys.modules or importlib.util.find_spec(MINDSPORE) is not None


def mindspore_loaded() -> bool:
    return MINDSPORE in sys.modules


class _BeforeMindSpore(importlib.abc.MetaPathFinder):
    """Finds nothing; prepares the environment when ``mindspore`` is about to be imported."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> None:
        if fullname == MINDSPORE:
            prepare_mindspore()
            if self in sys.meta_path:
                sys.meta_path.remove(self)
        return None


def install_import_hook() -> None:
    """Run ``prepare_mindspore`` right before MindSpore first loads in this process (once)."""
    if mindspore_loaded():
        return
    if not any(isinstance(finder, _BeforeMindSpore) for finder in sys.meta_path):
        sys.meta_path.insert(0, _BeforeMindSpore())
