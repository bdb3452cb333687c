"""The Ascend-only branches: device selection and mixed precision (AMP O2 with a loss scale).

Marked ``ascend``: they run where an NPU is visible and are reported as skipped elsewhere (see
tests/conftest.py). On the CPU, test_train.py checks that O2 is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from simplepose.config.loading import load_config
from simplepose.config.presets import Config

pytestmark = pytest.mark.ascend
STEPS = 8


@pytest.fixture(scope="module")
def ascend() -> str:
    from simplepose.runtime.device import select_device

    return select_device("Ascend", 0)


def test_select_device_runs_mindspore_on_the_npu(ascend: str) -> None:
    import mindspore as ms

    assert ascend == "Ascend"
    assert ms.get_context("device_target") == "Ascend"
    assert float((ms.Tensor(np.ones(4, np.float32)) * 2).sum().asnumpy()) == 8.0


def test_amp_o2_with_loss_scale_learns_a_fixed_batch(ascend: str, tiny_config: Config) -> None:
    import mindspore as ms
    from mindspore import nn

    from simplepose.network.pose_net import PoseResNet
    from simplepose.training.steps import make_train_step

    config = load_config("res18_128x96", ["train.amp_level=O2", "train.loss_scale=1024"])
    config = Config(name="o2", model=tiny_config.model, train=config.train)
    ms.set_seed(0)
    net = PoseResNet(config.model)
    step = make_train_step(net, nn.Adam(net.trainable_params(), 1e-3), config, ascend)
    assert isinstance(step, nn.TrainOneStepWithLossScaleCell)
    w, h = config.model.input_size
    hw, hh = config.model.heatmap_size
    rng = np.random.default_rng(0)
    images = ms.Tensor(rng.standard_normal((4, 3, h, w)).astype(np.float32))
    targets = ms.Tensor(rng.uniform(0, 1, (4, 17, hh, hw)).astype(np.float32))
    weights = ms.Tensor(np.ones((4, 17), np.float32))
    losses = []
    for _ in range(STEPS):
        loss, overflow, _ = step(images, targets, weights)
        assert not bool(overflow.asnumpy())
        losses.append(float(loss.asnumpy()))
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
