"""Data-parallel set-up under ``msrun`` (one process per device, gradients averaged)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from simplepose.training.dataset import Shard

LAUNCHER_ENV = ("MS_ROLE", "RANK_SIZE")  # set by msrun for every worker


def launched_by_msrun() -> bool:
    return any(os.environ.get(name) for name in LAUNCHER_ENV)


def init_distributed() -> Shard:
    """Join the msrun job (data parallel, gradients averaged); a single process otherwise."""
    if not launched_by_msrun():
        return Shard()
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    init()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    return Shard(get_rank(), get_group_size())


def trainable_digest(net: Any) -> str:
    """SHA-256 of all trainable parameters (name order): equal on every data-parallel rank.
    BatchNorm running statistics are per rank and not included."""
    digest = hashlib.sha256()
    for p in sorted(net.trainable_params(), key=lambda p: p.name):
        digest.update(p.name.encode())
        digest.update(np.ascontiguousarray(p.asnumpy()).tobytes())
    return digest.hexdigest()
