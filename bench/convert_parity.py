"""Converted PyTorch weights give the same heatmaps in MindSpore, in every public layout.

For ResNet-50 and ResNet-18 (256x192, 256-channel head): random weights and random BatchNorm
statistics in the PyTorch reference network (``tests/export/torch_reference.py``, the one the
tests use), saved with ``torch.save`` in the MSRA, mmpose 0.x and mmpose 1.x layouts and as a
torchvision backbone, converted with ``simplepose convert``'s code, run on the same input.
Heatmaps are compared for the pose layouts, backbone features for torchvision.

Last line: ``{"layouts": {"r50/msra": max_abs_diff, ...}, "max_abs_diff": ...}``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _machine import machine
from _torch_reference import load_torch_reference

import simplepose  # noqa: F401  (oneDNN CPU cap before MindSpore)

LAYOUTS = ("msra", "mmpose0", "mmpose1", "torchvision")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="50,18", help="comma-separated ResNet depths")
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()

    import mindspore as ms
    import numpy as np
    import torch

    from simplepose.config.presets import get_preset
    from simplepose.export.convert import convert_checkpoint
    from simplepose.network.checkpoint import build_network

    ref = load_torch_reference()
    diffs: dict[str, float] = {}
    magnitudes: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for depth in (int(d) for d in args.depths.split(",")):
            cfg = get_preset(f"res{depth}_256x192")
            w, h = cfg.model.input_size
            x = np.random.default_rng(depth).standard_normal((args.batch, 3, h, w))
            x = x.astype(np.float32)
            net = ref.random_pose_net(depth, seed=depth)
            heatmaps = ref.run(net, x)
            with torch.no_grad():
                t = torch.from_numpy(x)
                feats = net.maxpool(net.relu(net.bn1(net.conv1(t))))
                feats = net.layer4(net.layer3(net.layer2(net.layer1(feats)))).numpy()
            for layout in LAYOUTS:
                start = time.perf_counter()
                src = Path(tmp) / f"r{depth}_{layout}.pth"
                torch.save(ref.layout_state_dict(net, layout), src)
                ckpt = Path(tmp) / f"r{depth}_{layout}.ckpt"
                report = convert_checkpoint(src, ckpt)
                ms_net, _, _ = build_network(ckpt)
                if layout == "torchvision":
                    got, expected = ms_net.forward_features(ms.Tensor(x)).asnumpy(), feats
                else:
                    got, expected = ms_net(ms.Tensor(x)).asnumpy(), heatmaps
                key = f"r{depth}/{layout}"
                diffs[key] = float(np.abs(got - expected).max())
                magnitudes[key] = float(np.abs(expected).max())
                print(
                    f"{key}: max|diff| {diffs[key]:.3e} (max|value| {magnitudes[key]:.3f}), "
                    f"{report.loaded} tensors, preset {report.config.name}, "
                    f"{time.perf_counter() - start:.1f} s",
                    flush=True,
                )
    print(
        json.dumps(
            {
                "layouts": diffs,
                "max_abs_diff": max(diffs.values()),
                "max_abs_value": magnitudes,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
