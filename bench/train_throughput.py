"""Training throughput: the MindSpore R50 256x192 train step (the one ``simplepose train`` runs:
graph mode, Adam, JointsMSE) versus the same network, loss and optimiser in PyTorch, same batch,
measured in this run, interleaved so that load changes hit both; plus the data pipeline alone.

PyTorch runs in its own process (``bench/_torch_peer.py train``: torch and numpy only) with no
``ONEDNN_MAX_CPU_ISA`` in its environment, so its oneDNN uses AVX-512 (and AMX where present)
while MindSpore runs with the AVX2 cap it needs. ``--also-capped`` adds a second PyTorch peer
with ``ONEDNN_MAX_CPU_ISA=AVX2`` to show what the cap alone costs PyTorch.

Last line: JSON {"mindspore_img_s", "torch_img_s", "ratio", "pipeline_img_s", ...}; ``ratio`` is
MindSpore over uncapped PyTorch (wall clock, median step); ``cpu_ratio`` is PyTorch's CPU
seconds per image over MindSpore's, which a loaded machine distorts less (a 2-thread step
waits for both threads to be scheduled, so wall clock punishes whichever framework
synchronises its threads more often).

    python bench/train_throughput.py --data ../shared/data/coco-mini
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _machine import machine
from _rounds import Worker, clean_env

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


def torch_peer(cfg: Config, batch: int, threads: int, capped: bool) -> Worker:
    """The PyTorch train step in its own process; ``capped``: with MindSpore's oneDNN cap."""
    m = cfg.model
    cmd = [sys.executable, str(Path(__file__).with_name("_torch_peer.py")), "train",
           "--depth", str(m.depth), "--deconv-channels", str(m.deconv_channels),
           "--input", str(m.input_size[1]), str(m.input_size[0]), "--batch", str(batch),
           "--threads", str(threads)]  # fmt: skip
    env = clean_env({"ONEDNN_MAX_CPU_ISA": "AVX2"} if capped else None)
    return Worker("torch-capped" if capped else "torch", cmd, env)


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
    p.add_argument("--also-capped", action="store_true", help="add a PyTorch peer capped to AVX2")
    p.add_argument("--pipeline-batches", type=int, default=40)
    args = p.parse_args()

    cfg = load_config(args.preset, [f"train.batch_size={args.batch}"])
    ms_step = mindspore_step(cfg, args.batch)
    t0 = time.perf_counter()
    ms_step()  # graph compile + warm-up
    compile_s = time.perf_counter() - t0
    peers = {"torch": torch_peer(cfg, args.batch, args.torch_threads, capped=False)}
    if args.also_capped:
        peers["torch_capped"] = torch_peer(cfg, args.batch, args.torch_threads, capped=True)
    times: dict[str, list[float]] = {"mindspore": [], **{name: [] for name in peers}}
    cpu = dict.fromkeys(times, 0.0)  # CPU seconds of each framework's process in its steps
    try:
        for r in range(args.rounds):
            c0 = time.process_time()
            times["mindspore"] += time_steps(ms_step, args.steps)
            cpu["mindspore"] += time.process_time() - c0
            for name, peer in peers.items():
                answer = peer.ask(steps=args.steps)
                times[name] += answer["step_seconds"]
                cpu[name] += answer["cpu_seconds"]
            rates = ", ".join(
                f"{name} {args.batch / statistics.median(t):.2f}" for name, t in times.items()
            )
            print(f"round {r + 1}: {rates} img/s, load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        for peer in peers.values():
            peer.close()
    img_s = {name: args.batch / statistics.median(t) for name, t in times.items()}
    pipe = pipeline_img_s(cfg, args.data, args.split, args.pipeline_batches)
    print(f"data pipeline ({cfg.data.num_workers} workers, {args.preset}): {pipe:.1f} img/s")
    capped = {}
    if "torch_capped" in img_s:
        capped = {
            "torch_capped_img_s": round(img_s["torch_capped"], 2),
            "ratio_vs_torch_capped": round(img_s["mindspore"] / img_s["torch_capped"], 3),
            "torch_uncapped_vs_capped": round(img_s["torch"] / img_s["torch_capped"], 3),
        }
    print(
        json.dumps(
            {
                "mindspore_img_s": round(img_s["mindspore"], 2),
                "torch_img_s": round(img_s["torch"], 2),
                "ratio": round(img_s["mindspore"] / img_s["torch"], 3),
                # CPU seconds per image: the cost whatever share of the cores each process got
                "cpu_s_per_img": {
                    name: round(c / (args.batch * len(times[name])), 3) for name, c in cpu.items()
                },
                "cpu_ratio": round(cpu["torch"] / cpu["mindspore"], 3),
                **capped,
                "torch_env": "own process, no ONEDNN_MAX_CPU_ISA",
                "mindspore_env": f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')}",
                "pipeline_img_s": round(pipe, 1),
                "batch": args.batch,
                "preset": args.preset,
                "steps_timed": len(times["mindspore"]),
                "mindspore_compile_s": round(compile_s, 1),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "machine": machine(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
