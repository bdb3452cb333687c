"""``simplepose convert``: a public PyTorch checkpoint -> a pose checkpoint with metadata.

Reads the ``.pth`` without torch (``export.pth_reader``), renames its keys (``export.layouts``),
infers the network from the tensor shapes, checks every shape against ``PoseResNet`` and saves
with ``save_pose_checkpoint`` so the config, including the channel order the weights expect,
travels on to export and serving.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import simplepose  # noqa: F401  (oneDNN CPU cap before MindSpore runs)
from simplepose.config.presets import Config, get_preset
from simplepose.export.layouts import (
    LayoutError,
    blocks_per_stage,
    infer_model_fields,
    map_layout,
    unwrap_state_dict,
)
from simplepose.export.pth_reader import load_pth
from simplepose.hub.download import sha256_file
from simplepose.network.resnet import RESNET_SPECS
from simplepose.pose.keypoints import KeypointSet

log = logging.getLogger(__name__)
DEFAULT_INPUT = "256x192"  # preset suffix used when no config is given (the paper's main size)


@dataclass
class ConversionReport:
    """What ``convert_checkpoint`` did, for the command's summary and the tests."""

    source: str
    output: str
    layout: str
    channel_order: str
    config: Config
    loaded: int
    dropped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def backbone_only(self) -> bool:
        return bool(self.missing)

    def summary(self) -> str:
        m = self.config.model
        lines = [
            f"converted {self.source} ({self.layout} layout) -> {self.output}",
            f"  network: ResNet-{m.depth}, {m.num_deconv_layers} deconvs x {m.deconv_channels} ch, "
            f"{m.num_joints} joints ({self.config.keypoints.name}), "
            f"input {m.input_size[1]}x{m.input_size[0]} (HxW), "
            f"config {self.config.name}",
            f"  channel order the weights expect: {self.channel_order}",
            f"  {self.loaded} tensors loaded, {len(self.dropped)} dropped"
            + (
                f" ({', '.join(self.dropped[:4])}{', ...' if len(self.dropped) > 4 else ''})"
                if self.dropped
                else ""
            ),
        ]
        if self.missing:
            lines.append(
                f"  backbone only: {len(self.missing)} head parameters keep their random init "
                "(a starting point for training, not a pose model)"
            )
        return "\n".join(lines)


def keypoint_set_for(joints: int, keypoints: KeypointSet | None, config: Config) -> KeypointSet:
    """The keypoint set of weights whose final layer predicts ``joints`` keypoints: the given
    one (a dataset file's), else the config's (COCO-17 for the presets) when the count fits."""
    if keypoints is not None:
        if keypoints.num_keypoints != joints:
            raise LayoutError(
                f"the weights predict {joints} keypoints but the keypoint set "
                f"{keypoints.name!r} has {keypoints.num_keypoints}"
            )
        return keypoints
    if config.keypoints.num_keypoints != joints:
        raise LayoutError(
            f"the weights predict {joints} keypoints, not the {config.keypoints.num_keypoints} "
            f"of {config.keypoints.name}: pass --dataset FILE whose keypoints section describes "
            "them (names in channel order, flip pairs, skeleton, sigmas)"
        )
    return config.keypoints


def resolve_config(
    inferred: dict[str, Any],
    channel_order: str,
    config: Config | None,
    blocks: tuple[int, ...] = (),
    keypoints: KeypointSet | None = None,
) -> Config:
    """The config for the converted weights: the given one (which must agree with what the
    weights say) or the ``res{depth}_256x192`` preset, with the inferred head and channel order,
    and the keypoint set ``keypoint_set_for`` picks."""
    if config is None:
        if "depth" not in inferred:
            raise LayoutError(
                f"the backbone's blocks per stage {blocks} match no ResNet depth "
                f"({', '.join(map(str, RESNET_SPECS))}): blocks are missing or this is not a "
                "ResNet; pass --config to see which parameters do not fit"
            )
        config = get_preset(f"res{inferred['depth']}_{DEFAULT_INPUT}")
    else:
        clash = {
            k: (getattr(config.model, k), v)
            for k, v in inferred.items()
            if getattr(config.model, k) != v
        }
        if "depth" in clash:
            raise ValueError(
                f"config {config.name} is ResNet-{config.model.depth} but the weights are "
                f"ResNet-{inferred['depth']}"
            )
        if clash:
            log.info("weights override config %s: %s", config.name, clash)
    model = replace(config.model, channel_order=channel_order, **inferred)
    kset = keypoint_set_for(model.num_joints, keypoints, config)
    return replace(config, model=model, keypoints=kset).validate()


def convert_checkpoint(
    source: str | Path,
    output: str | Path,
    layout: str = "auto",
    config: Config | None = None,
    keypoints: KeypointSet | None = None,
) -> ConversionReport:
    """Convert ``source`` (.pth/.pt, any known layout) into the pose checkpoint ``output``.

    The joint count comes from the final layer's shape; weights of another keypoint set than
    COCO-17 need ``keypoints`` (e.g. a dataset file's) describing their channels.

    Raises ``LayoutError`` / ``CheckpointError`` (with the missing, unexpected and mis-shaped
    names) when the weights do not fit, ``UnsafeCheckpointError`` for a pickle that names
    anything but tensors and plain containers.
    """
    import mindspore as ms

    from simplepose.network.checkpoint import load_into, save_pose_checkpoint
    from simplepose.network.pose_net import PoseResNet

    source, output = Path(source), Path(output)
    mapped = map_layout(unwrap_state_dict(load_pth(source)), layout)
    inferred = infer_model_fields(mapped.params)
    blocks = blocks_per_stage(mapped.params)
    cfg = resolve_config(inferred, mapped.channel_order, config, blocks, keypoints)
    net = PoseResNet(cfg.model)
    own = {p.name for p in net.get_parameters()}
    params = {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in mapped.params.items()}
    load_into(net, params, allow_missing=mapped.backbone_only, source=str(source))
    missing = sorted(own - set(params))
    meta = {
        "converted_from": str(source.resolve()),
        "converted_from_sha256": sha256_file(source),
        "layout": mapped.layout,
        "backbone_only": bool(missing),
    }
    save_pose_checkpoint(net, output, cfg, meta)
    return ConversionReport(
        source=str(source),
        output=str(output),
        layout=mapped.layout,
        channel_order=mapped.channel_order,
        config=cfg,
        loaded=len(params),
        dropped=mapped.dropped,
        missing=missing,
    )
