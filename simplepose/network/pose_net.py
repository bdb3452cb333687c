"""PoseResNet (SimpleBaselines), its training-loss wrapper and the fused flip-test cell."""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops
from mindspore.common.initializer import Normal, initializer

from simplepose.config.presets import ModelConfig
from simplepose.network.resnet import (
    BLOCKS,
    RESNET_SPECS,
    batch_norm,
    make_stage,
    resnet_out_channels,
)

HEAD_INIT_STD = 0.001  # deconv and final conv weights ~ N(0, 0.001), as in the reference
STEM_KERNEL = 7


class PoseResNet(nn.Cell):
    """ResNet backbone + ``num_deconv_layers`` x (deconv 4x4/2 -> BN -> ReLU) + 1x1 conv.

    Input ``(N, 3, H, W)`` normalised crops, output ``(N, K, H/4, W/4)`` heatmaps.
    Parameter names follow the MSRA PyTorch layout (``deconv_layers.{0,1,3,4,6,7}``,
    ``final_layer``) so public checkpoints map 1:1.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        kind, stages = RESNET_SPECS[cfg.depth]
        block = BLOCKS[kind]
        self.conv1 = nn.Conv2d(
            3, 64, STEM_KERNEL, stride=2, pad_mode="pad", padding=3, has_bias=False
        )
        self.bn1 = batch_norm(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="pad", padding=1)
        ch = 64
        self.layer1, ch = make_stage(block, ch, 64, stages[0], 1)
        self.layer2, ch = make_stage(block, ch, 128, stages[1], 2)
        self.layer3, ch = make_stage(block, ch, 256, stages[2], 2)
        self.layer4, ch = make_stage(block, ch, 512, stages[3], 2)
        assert ch == resnet_out_channels(cfg.depth)  # internal invariant, not input validation

        layers: list[nn.Cell] = []
        for _ in range(cfg.num_deconv_layers):
            deconv = nn.Conv2dTranspose(
                ch,
                cfg.deconv_channels,
                cfg.deconv_kernel,
                stride=2,
                pad_mode="pad",
                padding=1,
                has_bias=False,
            )
            deconv.weight.set_data(
                initializer(Normal(HEAD_INIT_STD), deconv.weight.shape, ms.float32)
            )
            layers += [deconv, batch_norm(cfg.deconv_channels), nn.ReLU()]
            ch = cfg.deconv_channels
        self.deconv_layers = nn.SequentialCell(layers)
        self.final_layer = nn.Conv2d(
            ch,
            cfg.num_joints,
            cfg.final_kernel,
            pad_mode="pad",
            padding=cfg.final_kernel // 2,
            has_bias=True,
            weight_init=Normal(HEAD_INIT_STD),
            bias_init="zeros",
        )

    def forward_features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward_head(self, x):
        return self.final_layer(self.deconv_layers(x))

    def construct(self, x):
        return self.forward_head(self.forward_features(x))


class JointsMSELoss(nn.Cell):
    """0.5 * mean over joints of MSE(pred * w, target * w)  ("JointsMSELoss")."""

    def construct(self, pred, target, target_weight):
        # pred, target: (N, K, H, W); target_weight: (N, K)
        w = target_weight.reshape(target_weight.shape[0], target_weight.shape[1], 1, 1)
        diff = (pred - target) * w
        return 0.5 * ops.mean(diff * diff)


class PoseNetWithLoss(nn.Cell):
    def __init__(self, net: nn.Cell, loss: nn.Cell | None = None):
        super().__init__(auto_prefix=False)
        self.net = net
        self.loss = loss if loss is not None else JointsMSELoss()

    def construct(self, image, target, target_weight):
        return self.loss(self.net(image), target, target_weight)


class FlipTestNet(nn.Cell):
    """Flip test fused into one graph.

    Runs ``concat(x, flip_w(x))`` as one 2N batch, flips the second half back along W, swaps
    left/right channels, shifts it one pixel right (``f[..., 1:] = f[..., :-1]``) and averages
    with the first half. Input ``(N, 3, H, W)``, output ``(N, K, h, w)``; N may be dynamic.
    """

    def __init__(self, net: nn.Cell, flip_index: np.ndarray):
        """``flip_index``: the keypoint set's left/right permutation (``KeypointSet.flip_index``)."""
        super().__init__(auto_prefix=False)
        self.net = net
        self.flip_index = Tensor(np.asarray(flip_index).astype(np.int32))

    def construct(self, x):
        n = x.shape[0]
        both = ops.concat((x, ops.flip(x, (3,))), axis=0)
        heatmaps = self.net(both)
        plain = heatmaps[:n]
        flipped = ops.flip(heatmaps[n:], (3,))
        flipped = ops.gather(flipped, self.flip_index, 1)
        flipped = ops.concat((flipped[:, :, :, :1], flipped[:, :, :, :-1]), axis=3)
        return (plain + flipped) * 0.5
