import mindspore as ms
import numpy as np
import pytest

from simplepose.runtime.device import select_device


def test_select_device_is_idempotent_after_the_runtime_started():
    mode = ms.get_context("mode")
    ms.Tensor(np.ones(2, np.float32)) + 1  # start the runtime on the CPU
    try:
        assert select_device("CPU") == "CPU"
        assert ms.get_context("mode") == ms.GRAPH_MODE
        assert select_device("CPU", graph_mode=False) == "CPU"
        assert ms.get_context("mode") == ms.PYNATIVE_MODE
    finally:
        ms.set_context(mode=mode)  # leave the mode as the other tests expect it


def test_select_device_rejects_bad_names_and_switches():
    with pytest.raises(ValueError, match="CPU.*Ascend"):
        select_device("GPU0")
    with pytest.raises(ValueError, match=">= 0"):
        select_device("CPU", -1)
    ms.Tensor(np.ones(2, np.float32)) + 1
    with pytest.raises(RuntimeError, match="cannot switch"):
        select_device("CPU", 3)
