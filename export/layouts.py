"""Map the key layouts of public SimpleBaselines/ResNet state dicts onto ``PoseResNet`` names.

Layouts (tests/export/torch_reference.py builds a state dict of each): ``msra`` (the original code: ``conv1.*``, ``deconv_layers.*``,
``final_layer.*``; BGR input), ``mmpose0`` (``backbone.*`` + ``keypoint_head.*``; RGB),
``mmpose1`` (``backbone.*`` + ``head.*``, usually inside ``{"state_dict": ...}``; RGB) and
``torchvision`` (an ImageNet ResNet: backbone only, ``fc.*`` dropped; RGB).

PyTorch BatchNorm fields are renamed (``weight/bias/running_mean/running_var`` ->
``gamma/beta/moving_mean/moving_variance``); ``num_batches_tracked`` is dropped. Every other
name is the same in both frameworks, including ConvTranspose weights ``(in, out, kh, kw)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simplepose.export.pth_reader import UnsafeCheckpointError, is_inert, refusal

LAYOUTS = ("msra", "mmpose0", "mmpose1", "torchvision")
LAYOUT_CHOICES = ("auto", *LAYOUTS)
CHANNEL_ORDER = {"msra": "BGR", "mmpose0": "RGB", "mmpose1": "RGB", "torchvision": "RGB"}
# Prefixes each layout puts in front of the network's own names (stripped in this order).
LAYOUT_PREFIXES: dict[str, tuple[str, ...]] = {
    "msra": (),
    "mmpose0": ("backbone.", "keypoint_head."),
    "mmpose1": ("backbone.", "head."),
    "torchvision": (),
}
WRAPPER_PREFIX = "module."  # nn.DataParallel / DistributedDataParallel
STATE_DICT_KEYS = ("state_dict", "model")  # where training scripts nest the weights
BN_RENAMES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
DROPPED_SUFFIXES = ("num_batches_tracked",)
CLASSIFIER_PREFIX = "fc."
_BLOCK_KEY = re.compile(r"^layer([1-4])\.(\d+)\.")
_DECONV_WEIGHT = re.compile(r"^deconv_layers\.(\d+)\.weight$")


class LayoutError(ValueError):
    """A state dict that matches no known layout or no ResNet/SimpleBaselines shape."""


@dataclass
class MappedWeights:
    """A state dict renamed to the network's parameter names, plus what was dropped."""

    layout: str
    params: dict[str, np.ndarray]
    dropped: list[str] = field(default_factory=list)

    @property
    def channel_order(self) -> str:
        return CHANNEL_ORDER[self.layout]

    @property
    def backbone_only(self) -> bool:
        return not any(k.startswith("final_layer.") for k in self.params)


def unwrap_state_dict(obj: Any) -> dict[str, np.ndarray]:
    """The flat ``{name: array}`` inside a checkpoint object (bare or ``{"state_dict": ...}``)."""
    if not isinstance(obj, Mapping):
        raise LayoutError(f"checkpoint holds a {type(obj).__name__}, not a state dict")
    for key in STATE_DICT_KEYS:
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    for value in obj.values():
        if is_inert(value):  # an object (or a bare global) where a tensor belongs: never weights
            raise UnsafeCheckpointError(f"{refusal(value)} (found in the state dict)")
    arrays = {str(k): v for k, v in obj.items() if isinstance(v, np.ndarray)}
    if not arrays:
        raise LayoutError(f"no tensors found in the checkpoint (top-level keys: {list(obj)[:8]})")
    if all(k.startswith(WRAPPER_PREFIX) for k in arrays):
        arrays = {k[len(WRAPPER_PREFIX) :]: v for k, v in arrays.items()}
    return arrays


def detect_layout(keys: list[str]) -> str:
    """Guess the layout from the key names; ``LayoutError`` when nothing fits."""
    has = lambda prefix: any(k.startswith(prefix) for k in keys)  # noqa: E731
    if has("keypoint_head."):
        return "mmpose0"
    if has("backbone.") and has("head."):
        return "mmpose1"
    if has("conv1.") and has("final_layer."):
        return "msra"
    if has("conv1.") and has(CLASSIFIER_PREFIX):
        return "torchvision"
    raise LayoutError(
        f"unknown checkpoint layout (first keys: {keys[:6]}); pass --layout, one of {LAYOUTS}"
    )


def map_layout(state_dict: Mapping[str, np.ndarray], layout: str = "auto") -> MappedWeights:
    """Rename a PyTorch state dict to ``PoseResNet`` names (float32 arrays)."""
    if layout not in LAYOUT_CHOICES:
        raise ValueError(f"layout must be one of {LAYOUT_CHOICES}, got {layout!r}")
    keys = list(state_dict)
    if layout == "auto":
        layout = detect_layout(keys)
    stripped: dict[str, np.ndarray] = {}
    dropped = []
    for key in keys:
        name = key
        for prefix in LAYOUT_PREFIXES[layout]:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                break
        else:
            if LAYOUT_PREFIXES[layout]:
                dropped.append(key)  # e.g. an mmpose "data_preprocessor.*" or a neck
                continue
        if name.endswith(DROPPED_SUFFIXES) or (
            layout == "torchvision" and name.startswith(CLASSIFIER_PREFIX)
        ):
            dropped.append(key)
            continue
        stripped[name] = np.asarray(state_dict[key])
    bn_modules = {k.rsplit(".", 1)[0] for k in stripped if k.endswith(".running_mean")}
    params = {}
    for name, value in stripped.items():
        module, field_name = name.rsplit(".", 1) if "." in name else ("", name)
        if module in bn_modules:
            if field_name not in BN_RENAMES:
                raise LayoutError(f"unexpected BatchNorm field {name}")
            name = f"{module}.{BN_RENAMES[field_name]}"
        params[name] = value.astype(np.float32)
    return MappedWeights(layout=layout, params=params, dropped=dropped)


def blocks_per_stage(params: Mapping[str, np.ndarray]) -> tuple[int, int, int, int]:
    """Residual blocks in ``layer1..4`` (from the ``layerS.B.`` key names)."""
    blocks = [0, 0, 0, 0]
    for key in params:
        match = _BLOCK_KEY.match(key)
        if match:
            stage, index = int(match.group(1)) - 1, int(match.group(2))
            blocks[stage] = max(blocks[stage], index + 1)
    return tuple(blocks)  # type: ignore[return-value]


def infer_model_fields(params: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """What the weights themselves say about the network: ResNet ``depth`` (absent when the
    blocks per stage match no ResNet) and, for full pose models, the deconv head (count,
    width, kernel) and the number of joints."""
    from simplepose.network.resnet import RESNET_SPECS  # MindSpore: import only when needed

    kind = "bottleneck" if "layer1.0.conv3.weight" in params else "basic"
    blocks = blocks_per_stage(params)
    fields_: dict[str, Any] = {}
    depths = [d for d, spec in RESNET_SPECS.items() if spec == (kind, blocks)]
    if depths:
        fields_["depth"] = depths[0]
    deconvs = sorted(
        (int(m.group(1)), params[k].shape)
        for k in params
        if (m := _DECONV_WEIGHT.match(k)) and params[k].ndim == 4
    )
    if deconvs:
        fields_.update(
            num_deconv_layers=len(deconvs),
            deconv_channels=int(deconvs[0][1][1]),
            deconv_kernel=int(deconvs[0][1][2]),
        )
    final = params.get("final_layer.weight")
    if final is not None:
        fields_.update(num_joints=int(final.shape[0]), final_kernel=int(final.shape[2]))
    return fields_
