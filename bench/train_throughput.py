"""Training throughput: the MindSpore R50 256x192 train step (the one ``simplepose train`` runs:
graph mode, Adam, JointsMSE) versus the same network, loss and optimiser in PyTorch, same batch,
measured in this run, interleaved so that load changes hit both; plus the data pipeline alone.

Last line: JSON {"mindspore_img_s", "torch_img_s", "ratio", "pipeline_img_s", ...}.

    python bench/train_throughput.py --data ../shared/data/coco-mini
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _machine import machine
from _torch_reference import load_torch_reference

import simplepose  # noqa: F401  (oneDNN CPU cap before MindSpore loads)
from simplepose.config.loading import load_config
from simplepose.config.presets import Config


def make_batch(cfg: Config, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    m = cfg.model
    x = rng.standard_normal((batch, 3, m.input_size[1], m.input_size[0])).astype(np.float32)
    t = rng.random((batch, m.num_joints, m.heatmap_size[1], m.heatmap_size[0])).astype(np.float32)
    w = np.ones((batch, m.num_joints), np.float32)
    return x, t, w


def mindspore_step(cfg: Config, batch: int):
    import mindspore as ms
    from mindspore import nn

    from simplepose.network.pose_net import PoseResNet
    from simplepose.runtime.device import select_device
    from simplepose.training.steps import make_train_step

    device = select_device("CPU")
    net = PoseResNet(cfg.model)
    step = make_train_step(net, nn.Adam(net.trainable_params(), 1e-3), cfg, device)
    x, t, w = (ms.Tensor(a) for a in make_batch(cfg, batch))
    return lambda: float(step(x, t, w).asnumpy())


def torch_step(cfg: Config, batch: int, threads: int):
    import torch

    torch.set_num_threads(threads)
    m = cfg.model
    net = load_torch_reference().TorchPoseResNet(m.depth, m.deconv_channels, m.num_joints).train()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, t, w = (torch.from_numpy(a) for a in make_batch(cfg, batch))
    wk = w[:, :, None, None]

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = 0.5 * (((net(x) - t) * wk) ** 2).mean()
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def time_steps(step, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def pipeline_img_s(cfg: Config, data: Path, split: str, batches: int) -> float:
    """Images/s of decode + augment + crop + targets, one dataset per epoch as in training
    (worker start-up included)."""
    from simplepose.training.coco import person_samples
    from simplepose.training.dataset import PoseSource, Shard, build_dataset, epoch_indices

    samples = person_samples(data, split, cfg)
    bs = cfg.train.batch_size
    n, epoch = 0, 0
    t0 = time.perf_counter()
    while n < batches * bs:
        indices = epoch_indices(len(samples), epoch, 1, Shard(), bs)
        dataset = build_dataset(
            PoseSource(samples, cfg, epoch=epoch), indices, bs, cfg.data.num_workers
        )
        n += sum(len(b[0]) for b in dataset.create_tuple_iterator(output_numpy=True, num_epochs=1))
        epoch += 1
    return n / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    p.add_argument("--split", default="train2017")
    p.add_argument("--preset", default="res50_256x192")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3, help="timed steps per round and framework")
    p.add_argument("--rounds", type=int, default=3, help="alternating MindSpore/PyTorch rounds")
    p.add_argument("--torch-threads", type=int, default=2)
    p.add_argument("--pipeline-batches", type=int, default=40)
    args = p.parse_args()

    cfg = load_config(args.preset, [f"train.batch_size={args.batch}"])
    ms_step = mindspore_step(cfg, args.batch)
    pt_step = torch_step(cfg, args.batch, args.torch_threads)
    t0 = time.perf_counter()
    ms_step()  # graph compile + warm-up
    compile_s = time.perf_counter() - t0
    pt_step()
    ms_times: list[float] = []
    pt_times: list[float] = []
    for r in range(args.rounds):
        ms_times += time_steps(ms_step, args.steps)
        pt_times += time_steps(pt_step, args.steps)
        print(
            f"round {r + 1}: MindSpore {args.batch / statistics.median(ms_times):.2f} img/s, "
            f"PyTorch {args.batch / statistics.median(pt_times):.2f} img/s",
            flush=True,
        )
    ms_img_s = args.batch / statistics.median(ms_times)
    pt_img_s = args.batch / statistics.median(pt_times)
    pipe = pipeline_img_s(cfg, args.data, args.split, args.pipeline_batches)
    print(f"data pipeline ({cfg.data.num_workers} workers, {args.preset}): {pipe:.1f} img/s")
    print(
        json.dumps(
            {
                "mindspore_img_s": round(ms_img_s, 2),
                "torch_img_s": round(pt_img_s, 2),
                "ratio": round(ms_img_s / pt_img_s, 3),
                "pipeline_img_s": round(pipe, 1),
                "batch": args.batch,
                "preset": args.preset,
                "steps_timed": len(ms_times),
                "mindspore_compile_s": round(compile_s, 1),
                "machine": machine(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
