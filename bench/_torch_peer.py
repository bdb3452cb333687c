"""The PyTorch peer of the speed benches, a worker process (``_rounds.py`` protocol) that
imports torch, numpy and the repository's PyTorch SimpleBaselines (``tests/export/
torch_reference.py``) and nothing of simplepose, so no ``ONEDNN_MAX_CPU_ISA`` cap reaches it
unless the bench puts one in its environment on purpose.

Modes:

* ``infer``: R50 (``--depth``) at ``--input`` H,W in eval mode under ``torch.inference_mode``,
  the flip test done as simplepose's fused graph does it (one 2N batch of the crops and their
  mirror images, mirrored heatmaps flipped back, left/right channels swapped, shifted one pixel,
  averaged); ``--channels-last`` for the NHWC memory format. Answers
  ``{"persons", "seconds", "cpu_seconds"}`` for a request ``{"seconds": S}``.
* ``train``: the train step of ``bench/train_throughput.py`` (Adam, JointsMSE with target
  weights). Answers ``{"step_seconds": [...], "cpu_seconds"}`` for ``{"steps": N}``.

    python bench/_torch_peer.py infer --batch 16 --channels-last   # then {"seconds": 5} lines
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import torch
from _rounds import serve_rounds
from _torch_reference import load_torch_reference

# COCO's 17 keypoints: nose, then (left, right) pairs of eye, ear, shoulder, elbow, wrist, hip,
# knee, ankle. Index i of a mirrored heatmap stack holds joint FLIP_INDEX[i].
FLIP_INDEX = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def flip_test(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    heatmaps = net(torch.cat((x, x.flip(3)), 0))
    flipped = heatmaps[n:].flip(3)[:, FLIP_INDEX]
    flipped = torch.cat((flipped[..., :1], flipped[..., :-1]), 3)
    return (heatmaps[:n] + flipped) * 0.5


def infer_worker(args: argparse.Namespace) -> None:
    net = load_torch_reference().random_pose_net(args.depth, args.deconv_channels).eval()
    x = torch.from_numpy(
        np.random.default_rng(0).standard_normal((args.batch, 3, *args.input), np.float32)
    )
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        flip_test(net, x)  # warm-up: oneDNN primitive creation

    def measure(request: dict[str, Any]) -> dict[str, Any]:
        done, start, cpu = 0, time.perf_counter(), time.process_time()
        with torch.inference_mode():
            while done == 0 or time.perf_counter() - start < request["seconds"]:
                flip_test(net, x)
                done += args.batch
        return {"persons": done, "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu}  # fmt: skip

    serve_rounds(measure)


def train_worker(args: argparse.Namespace) -> None:
    net = load_torch_reference().TorchPoseResNet(args.depth, args.deconv_channels).train()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    h, w = args.input
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((args.batch, 3, h, w), np.float32))
    t = torch.from_numpy(rng.random((args.batch, len(FLIP_INDEX), h // 4, w // 4), np.float32))
    wk = torch.ones((args.batch, len(FLIP_INDEX), 1, 1))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = 0.5 * (((net(x) - t) * wk) ** 2).mean()
        loss.backward()
        opt.step()

    step()  # warm-up

    def measure(request: dict[str, Any]) -> dict[str, Any]:
        times, cpu = [], time.process_time()
        for _ in range(request["steps"]):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        return {"step_seconds": times, "cpu_seconds": time.process_time() - cpu}

    serve_rounds(measure)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("mode", choices=("infer", "train"))
    p.add_argument("--depth", type=int, default=50)
    p.add_argument("--deconv-channels", type=int, default=256)
    p.add_argument("--input", type=int, nargs=2, default=(256, 192), metavar=("H", "W"))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--channels-last", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    (infer_worker if args.mode == "infer" else train_worker)(args)


if __name__ == "__main__":
    main()
