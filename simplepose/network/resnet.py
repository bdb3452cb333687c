"""ResNet backbone with the torchvision/MSRA parameter layout.

Attribute names (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0`` ...) are the
PyTorch ones, so a public state dict maps onto this network by renaming BatchNorm fields only.
"""

from __future__ import annotations

import mindspore as ms
from mindspore import nn
from mindspore.common.initializer import HeNormal, initializer

BN_MOMENTUM = 0.9  # MindSpore momentum = 1 - PyTorch momentum (0.1)
BN_EPS = 1e-5

# depth -> (block type, blocks per stage)
RESNET_SPECS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    """Conv without bias, 'same'-style padding as in torchvision, He-normal (fan_out) init."""
    layer = nn.Conv2d(
        in_ch,
        out_ch,
        kernel,
        stride=stride,
        pad_mode="pad",
        padding=kernel // 2,
        has_bias=False,
    )
    layer.weight.set_data(
        initializer(HeNormal(mode="fan_out", nonlinearity="relu"), layer.weight.shape, ms.float32)
    )
    return layer


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class BasicBlock(nn.Cell):
    expansion = 1

    def __init__(self, in_ch: int, ch: int, stride: int = 1, downsample: nn.Cell | None = None):
        super().__init__()
        self.conv1 = conv(in_ch, ch, 3, stride)
        self.bn1 = batch_norm(ch)
        self.conv2 = conv(ch, ch, 3)
        self.bn2 = batch_norm(ch)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def construct(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Cell):
    expansion = 4

    def __init__(self, in_ch: int, ch: int, stride: int = 1, downsample: nn.Cell | None = None):
        super().__init__()
        self.conv1 = conv(in_ch, ch, 1)
        self.bn1 = batch_norm(ch)
        self.conv2 = conv(ch, ch, 3, stride)
        self.bn2 = batch_norm(ch)
        self.conv3 = conv(ch, ch * self.expansion, 1)
        self.bn3 = batch_norm(ch * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def construct(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
}


def make_stage(
    block: type[BasicBlock] | type[Bottleneck], in_ch: int, ch: int, blocks: int, stride: int
) -> tuple[nn.SequentialCell, int]:
    downsample = None
    out_ch = ch * block.expansion
    if stride != 1 or in_ch != out_ch:
        downsample = nn.SequentialCell([conv(in_ch, out_ch, 1, stride), batch_norm(out_ch)])
    layers = [block(in_ch, ch, stride, downsample)]
    layers += [block(out_ch, ch) for _ in range(1, blocks)]
    return nn.SequentialCell(layers), out_ch


def resnet_out_channels(depth: int) -> int:
    kind, _ = RESNET_SPECS[depth]
    return 512 * BLOCKS[kind].expansion
