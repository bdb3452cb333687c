"""Inference against a fair PyTorch peer: R50 256x192 with the flip test, persons/s.

In interleaved rounds, each in its own process:

* the PyTorch peer (``bench/_torch_peer.py infer``): eager PyTorch under ``inference_mode``,
  the flip test as one 2N batch, once with channels_last (NHWC) and once in the default NCHW
  layout; torch, numpy and the repository's PyTorch network only, no ``ONEDNN_MAX_CPU_ISA``
  in its environment;
* our bare runtime (``bench/roofline.py``'s worker) for each of ``--backends`` (default: the
  backend ``auto`` picks on CPU), on random crops at the same batch;
* our service (``simplepose serve --backend auto``), concurrent clients posting real
  coco-mini val images with their ground-truth person boxes.

The R50 model directory is the one ``bench/serve_throughput.py`` builds (random weights).
Last line: JSON with every rate and the ratios against the PyTorch peer (same run), and the CPU
milliseconds per person of each process (the service's own process; its clients excluded):
on a loaded machine the wall-clock rates are the shares of the cores each got, the CPU cost is
not (spin-waiting threads count, so it errs high for the runtimes that spin).

    python bench/infer_peer.py --data ../shared/data/coco-mini
    python bench/infer_peer.py --small --seconds 0.3 --rounds 1 --requests 4   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _coco import val_person_boxes  # noqa: E402
from _machine import machine  # noqa: E402
from _rounds import Worker, clean_env  # noqa: E402
from _service import ServiceProcess, post_keypoints  # noqa: E402
from roofline import backend_env, build_model  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    p.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    p.add_argument("--small", action="store_true", help="random R18 96x64 (smoke test)")
    p.add_argument("--batch-sizes", default="1,2,4,8,16", help="exported buckets")
    p.add_argument("--model-dir", type=Path, help="an exported model directory (default: build)")
    p.add_argument("--batch", type=int, default=16, help="peer and bare-runtime batch")
    p.add_argument("--backends", help="bare runtimes, comma-separated (default: auto's pick)")
    p.add_argument("--seconds", type=float, default=8.0, help="per runtime and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=24, help="service requests per round")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    import simplepose  # noqa: F401  (MindSpore's oneDNN cap before it loads: this process exports)
    from simplepose.config.model_info import ModelInfo
    from simplepose.runtime.backends import BACKEND_SPECS, choose_backend
    from simplepose.runtime.buckets import parse_batch_sizes

    model_dir = args.model_dir or build_model(
        args.workdir, args.data, parse_batch_sizes(args.batch_sizes), args.small
    )
    info = ModelInfo.load(model_dir)
    default = choose_backend(info, "CPU").name
    backends = args.backends.split(",") if args.backends else [default]
    width, height = info.model.input_size
    requests = val_person_boxes(args.data, 12, 3, with_keypoints=True)
    payloads = [(path.read_bytes(), json.dumps(boxes)) for path, boxes in requests]

    workers: dict[str, Worker] = {}
    peer = [sys.executable, str(HERE / "_torch_peer.py"), "infer", "--depth", str(info.model.depth),
            "--deconv-channels", str(info.model.deconv_channels), "--input", str(height),
            str(width), "--batch", str(args.batch), "--threads", str(args.threads)]  # fmt: skip
    totals: dict[str, list[float]] = {}
    service = None
    try:
        workers["torch_channels_last"] = Worker("torch", [*peer, "--channels-last"], clean_env())
        workers["torch_nchw"] = Worker("torch", peer, clean_env())
        for b in backends:
            cmd = [sys.executable, str(HERE / "roofline.py"), "--worker", b, "--model-dir",
                   str(model_dir), "--batch", str(args.batch)]  # fmt: skip
            workers[f"bare_{b}"] = Worker(b, cmd, backend_env(BACKEND_SPECS[b].runtime))
        service_args = ["--backend", "auto", "--max-batch", str(max(info.bucket_sizes("onnx")))]
        service = ServiceProcess(model_dir, args.workdir / "infer_peer_serve.log", service_args)
        service.__enter__()
        post_keypoints(service.url, payloads, args.clients, args.clients)  # warm-up
        service_process = psutil.Process(service.pid)
        # persons, seconds, CPU seconds of the process that did the work
        totals = {name: [0.0, 0.0, 0.0] for name in [*workers, "service_auto"]}
        for r in range(args.rounds):
            for name, w in workers.items():
                answer = w.ask(seconds=args.seconds)
                totals[name][0] += answer["persons"]
                totals[name][1] += answer["seconds"]
                totals[name][2] += answer["cpu_seconds"]
            cpu = service_process.cpu_times()
            seconds, answers = post_keypoints(service.url, payloads, args.clients, args.requests)
            after = service_process.cpu_times()
            totals["service_auto"][2] += after.user + after.system - cpu.user - cpu.system
            totals["service_auto"][0] += sum(len(a.body["persons"]) for a in answers)
            totals["service_auto"][1] += seconds
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{n} {t[0] / t[1]:.2f}" for n, t in totals.items()
            ) + f" persons/s, load {os.getloadavg()[0]:.1f}", file=sys.stderr)  # fmt: skip
    finally:
        for w in workers.values():
            w.close()
        if service is not None:
            service.__exit__(None, None, None)
    rates = {name: t[0] / t[1] for name, t in totals.items()}
    cpu_ms = {name: 1000 * t[2] / t[0] for name, t in totals.items()}
    peer_rate = rates["torch_channels_last"]
    print(json.dumps({
        "persons_per_s": {name: round(v, 3) for name, v in rates.items()},
        "vs_torch_channels_last": {
            name: round(v / peer_rate, 3) for name, v in rates.items() if name != "torch_channels_last"
        },
        # CPU ms per person: the cost whatever share of the cores the process got
        "cpu_ms_per_person": {name: round(v, 1) for name, v in cpu_ms.items()},
        "cpu_vs_torch_channels_last": {
            name: round(cpu_ms["torch_channels_last"] / v, 3) for name, v in cpu_ms.items()
            if name != "torch_channels_last"
        },
        "cpu_default_backend": default,
        "model": f"R{info.model.depth} {height}x{width}, flip test, random weights",
        "batch": args.batch,
        "threads": args.threads,
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "service_requests_per_round": args.requests,
        "clients": args.clients,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine": machine(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
