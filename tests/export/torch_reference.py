"""A PyTorch implementation of SimpleBaselines PoseResNet (MSRA parameter names), for parity
tests and ``bench/convert_parity.py`` only: the product never imports torch.

``layout_state_dict`` writes the same weights the way each public source saves them, so the
converter can be checked against all of them.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

RESNET_SPECS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
HEAD_PREFIXES = ("deconv_layers.", "final_layer.")


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, ch: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, ch: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, ch, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.conv3 = nn.Conv2d(ch, ch * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(ch * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class TorchPoseResNet(nn.Module):
    """The MSRA ``pose_resnet``: ResNet + 3 x (deconv 4x4/2, BN, ReLU) + 1x1 conv."""

    def __init__(self, depth: int = 50, deconv_channels: int = 256, num_joints: int = 17):
        super().__init__()
        kind, stages = RESNET_SPECS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.inplanes = 64
        self.layer1 = self._stage(block, 64, stages[0], 1)
        self.layer2 = self._stage(block, 128, stages[1], 2)
        self.layer3 = self._stage(block, 256, stages[2], 2)
        self.layer4 = self._stage(block, 512, stages[3], 2)
        layers: list[nn.Module] = []
        for _ in range(3):
            layers += [
                nn.ConvTranspose2d(self.inplanes, deconv_channels, 4, 2, 1, 0, bias=False),
                nn.BatchNorm2d(deconv_channels),
                nn.ReLU(inplace=True),
            ]
            self.inplanes = deconv_channels
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(deconv_channels, num_joints, 1, 1, 0)

    def _stage(self, block, ch: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != ch * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, ch * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(ch * block.expansion),
            )
        layers = [block(self.inplanes, ch, stride, downsample)]
        self.inplanes = ch * block.expansion
        layers += [block(self.inplanes, ch) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.final_layer(self.deconv_layers(x))


def random_pose_net(depth: int, deconv_channels: int = 256, seed: int = 0) -> TorchPoseResNet:
    """Random weights and random BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    net = TorchPoseResNet(depth, deconv_channels)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(1000)
    return net.eval()


def layout_state_dict(net: TorchPoseResNet, layout: str) -> object:
    """The object ``torch.save`` writes for ``net`` in a public layout."""
    return layout_state_dict_from(net.state_dict(), layout, _fc_in(net))


def layout_state_dict_from(sd, layout: str, fc_in: int = 2048) -> object:
    """``sd`` (MSRA names) rearranged as ``layout`` saves it."""
    if layout == "msra":
        return sd
    if layout == "torchvision":
        out = OrderedDict((k, v) for k, v in sd.items() if not k.startswith(HEAD_PREFIXES))
        out["fc.weight"] = torch.randn(1000, fc_in)
        out["fc.bias"] = torch.zeros(1000)
        return out
    head = {"mmpose0": "keypoint_head.", "mmpose1": "head."}[layout]
    renamed = OrderedDict(
        (head + k if k.startswith(HEAD_PREFIXES) else "backbone." + k, v) for k, v in sd.items()
    )
    meta = {"epoch": 210, "mmpose_version": "0.x" if layout == "mmpose0" else "1.x"}
    return {"meta": meta, "state_dict": renamed}


def _fc_in(net: TorchPoseResNet) -> int:
    return net.layer4[-1].expansion * 512


def run(net: TorchPoseResNet, batch):
    """Heatmaps (N, K, H/4, W/4) as a NumPy array for a NumPy batch (N, 3, H, W)."""
    with torch.no_grad():
        return net(torch.from_numpy(batch)).numpy()
