"""Load the PyTorch reference network of the tests (``tests/export/torch_reference.py``).

Benchmarks compare against the same PyTorch model the parity tests use, so there is one
PyTorch SimpleBaselines in the repository. torch is a dev dependency only.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "export" / "torch_reference.py"


def load_torch_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("torch_reference", REFERENCE)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"PyTorch reference network not found: {REFERENCE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
