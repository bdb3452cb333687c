"""Throughput of the keypoint service per backend vs the bare runtime, on the same crops.

R50 256x192 with the flip test fused (random weights: speed does not depend on them), exported
once by the export stage into one model directory: the dynamic-batch MindIR, MindIR buckets,
ONNX FP32 buckets and ONNX INT8 buckets (calibrated on coco-mini train persons). For each
backend (``simplepose.runtime.backends``: mindspore-dynamic, mindspore-buckets, onnxruntime,
onnxruntime-int8) one run measures, in interleaved rounds so a load change on the shared
machine hits all of them:

1. the service: ``simplepose serve --backend B`` on 127.0.0.1, N concurrent clients posting
   real coco-mini val images with their ground-truth person boxes (images with several
   persons), a bounded number of requests;
2. the bare runtime: the same graphs called directly on the same crops, batch = --max-batch.

Ratios (same run): service / bare per backend; the CPU default (``auto``) service over the
MindSpore dynamic service (what the service ran before buckets and ONNX Runtime); INT8 / FP32.
Last line: JSON with every rate, the ratios, latencies, thread settings and the CPU flags.
Per backend it also gives CPU milliseconds per person of the bare runtime, the service process
and the bench's own client threads (which share the machine's cores with the service, as a
real client on another machine would not): ``bare_cpu_vs_service_cpu`` is the service's cost
beyond the runtime, independent of how busy the machine is.
The tail latency is p99_ms only with at least P99_MIN_SAMPLES request latencies per backend
(a 99th percentile of fewer samples is just their maximum); otherwise it is max_ms.

    python bench/serve_throughput.py --data ../shared/data/coco-mini --clients 8
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _coco import val_person_boxes  # noqa: E402
from _machine import machine  # noqa: E402
from _service import (  # noqa: E402
    R50_PRESET,
    ServiceProcess,
    post_keypoints,
    preset_random_checkpoint,
    preset_tag,
)

# A 99th percentile needs at least 100 samples to be more than the maximum of what was seen.
P99_MIN_SAMPLES = 100
BACKEND_NAMES = ("mindspore-dynamic", "mindspore-buckets", "onnxruntime", "onnxruntime-int8")
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags() -> dict[str, bool]:
    """The CPU features that decide INT8 speed (VNNI: int8 dot products)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    flags = set(next((ln for ln in text.splitlines() if ln.startswith("flags")), "").split())
    return {f: f in flags for f in CPU_FLAGS}


def build_model(
    workdir: Path, data: Path, sizes: tuple[int, ...], preset: str = R50_PRESET
) -> Path:
    """Random-weight ``preset`` checkpoint -> one directory with every backend's graphs."""
    from simplepose.config.model_info import ModelInfo
    from simplepose.export.exporter import export_model

    ckpt = preset_random_checkpoint(workdir, preset)
    out = workdir / f"{preset_tag(preset)}_buckets"
    have = ModelInfo.load(out) if (out / "model.json").is_file() else None
    if have is None or have.bucket_sizes("mindir") != sizes:
        export_model(ckpt, out, batch_sizes=sizes)
    if ModelInfo.load(out).bucket_sizes("onnx", "int8") != sizes:
        export_model(ckpt, out, fmt="onnx", batch_sizes=sizes, quantize="int8", calibration=data)
    return out


def crops_of(requests, model) -> list[np.ndarray]:
    from simplepose.pose.pipeline import PosePipeline, read_image

    pipeline = PosePipeline(model)
    return [pipeline.preprocess(read_image(str(p)), np.array(b)).batch for p, b in requests]


def process_cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds of ``process`` so far."""
    times = process.cpu_times()
    return times.user + times.system


def direct_rate(model, crops: list[np.ndarray], batch: int, seconds: float) -> tuple[int, float]:
    """Persons done and seconds taken by ``model`` on the crops, ``batch`` at a time, for
    about ``seconds``."""
    pool = np.concatenate(crops)
    done, start, i = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds or done == 0:
        chunk = pool[i : i + batch]
        if len(chunk) < batch:
            chunk = np.concatenate([chunk, pool[: batch - len(chunk)]])
        model(chunk)
        done += len(chunk)
        i = (i + batch) % len(pool)
    return done, time.perf_counter() - start


def run_clients(url: str, requests, clients: int, total: int) -> tuple[float, list[float], int]:
    """``total`` requests from ``clients`` threads; returns (seconds, latencies ms, persons)."""
    payloads = [(p.read_bytes(), json.dumps(b)) for p, b in requests]
    seconds, answers = post_keypoints(url, payloads, clients, total)
    return seconds, [a.latency_ms for a in answers], sum(len(a.body["persons"]) for a in answers)


def tail_latency(latencies: list[float]) -> tuple[str, float]:
    """("p99", value) with enough samples for a 99th percentile, else ("max", the maximum)."""
    if len(latencies) >= P99_MIN_SAMPLES:
        return "p99", float(np.percentile(latencies, 99))
    return "max", float(max(latencies))


def rate(total: list[float]) -> float:
    return total[0] / total[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=48, help="service requests per backend")
    parser.add_argument("--warmup-requests", type=int, default=8)
    parser.add_argument("--min-persons", type=int, default=3, help="persons per image, at least")
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--batch-sizes", default="1,2,4,8,16", help="exported buckets")
    parser.add_argument("--max-wait-ms", type=float, default=20.0)
    parser.add_argument("--direct-seconds", type=float, default=8.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKEND_NAMES))
    parser.add_argument("--preset", default=R50_PRESET, help="the random-weight pose model")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    import simplepose  # noqa: F401
    from simplepose.runtime.backends import choose_backend
    from simplepose.runtime.buckets import parse_batch_sizes
    from simplepose.runtime.device import select_device
    from simplepose.runtime.model_loader import load_model
    from simplepose.runtime.threads import thread_settings

    select_device("CPU")
    backends = [b for b in args.backends.split(",") if b]
    sizes = parse_batch_sizes(args.batch_sizes)
    model_dir = build_model(args.workdir, args.data, sizes, args.preset)
    requests = val_person_boxes(args.data, args.images, args.min_persons, with_keypoints=True)
    if not requests:
        raise SystemExit(f"no val image with >= {args.min_persons} persons in {args.data}")
    persons_per_request = statistics.mean(len(b) for _, b in requests)
    print(f"{len(requests)} images, {persons_per_request:.1f} persons each", file=sys.stderr)

    models = {b: load_model(model_dir, backend=b) for b in backends}
    default = choose_backend(models[backends[0]].info, "CPU").name
    crops = crops_of(requests, models[backends[0]])
    for model in models.values():  # warm every bucket
        for n in model.batch_sizes or (args.max_batch,):
            model(np.concatenate(crops)[:n])
    bare = {b: [0.0, 0.0] for b in backends}
    served = {b: [0.0, 0.0] for b in backends}
    # CPU seconds of the bare runtime (this process), of the service process, and of this
    # process's client threads while they post (they share the service's cores).
    cpu = {b: {"bare": 0.0, "service": 0.0, "client": 0.0} for b in backends}
    lat: dict[str, list[float]] = {b: [] for b in backends}
    service_args = ["--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    per_round = max(1, args.requests // args.rounds)
    services = {}
    try:
        for b in backends:
            log = args.workdir / f"serve-{b}.log"
            services[b] = ServiceProcess(
                model_dir, log, [*service_args, "--backend", b]
            ).__enter__()
            run_clients(services[b].url, requests, args.clients, args.warmup_requests)
        processes = {b: psutil.Process(s.pid) for b, s in services.items()}
        for r in range(args.rounds):
            for b in backends:
                c0 = time.process_time()
                done, secs = direct_rate(models[b], crops, args.max_batch, args.direct_seconds)
                cpu[b]["bare"] += time.process_time() - c0
                bare[b][0] += done
                bare[b][1] += secs
                c0, s0 = time.process_time(), process_cpu_seconds(processes[b])
                seconds, round_lat, persons = run_clients(
                    services[b].url, requests, args.clients, per_round
                )
                cpu[b]["service"] += process_cpu_seconds(processes[b]) - s0
                cpu[b]["client"] += time.process_time() - c0
                served[b][0] += persons
                served[b][1] += seconds
                lat[b] += round_lat
                print(f"round {r + 1}/{args.rounds} {b}: bare {rate(bare[b]):.2f}, service "
                      f"{rate(served[b]):.2f} persons/s", file=sys.stderr)  # fmt: skip
        cards = {b: httpx.get(f"{s.url}/readyz").json()["model"] for b, s in services.items()}
    finally:
        for s in services.values():
            s.__exit__(None, None, None)
    result: dict = {"backends": {}}
    for b in backends:
        ms_sorted = sorted(lat[b])
        persons_done = {"bare": bare[b][0], "service": served[b][0], "client": served[b][0]}
        per_person = {k: cpu[b][k] / persons_done[k] for k in cpu[b]}
        tail_name, tail = tail_latency(ms_sorted)
        result["backends"][b] = {
            "service_persons_per_s": round(rate(served[b]), 3),
            "bare_persons_per_s": round(rate(bare[b]), 3),
            "service_vs_bare": round(rate(served[b]) / rate(bare[b]), 4),
            # CPU per person: what the service costs beyond the runtime, whatever the load.
            **{f"{k}_cpu_ms_per_person": round(1000 * v, 2) for k, v in per_person.items()},
            "bare_cpu_vs_service_cpu": round(per_person["bare"] / per_person["service"], 4),
            "p50_ms": round(ms_sorted[len(ms_sorted) // 2], 1),
            f"{tail_name}_ms": round(tail, 1),
            "runtime": cards[b]["runtime"],
            "batch_sizes": cards[b]["batch_sizes"],
        }
    ratios = {}
    if "mindspore-dynamic" in backends and default in backends:
        ratios["default_service_vs_mindspore_dynamic_service"] = round(
            rate(served[default]) / rate(served["mindspore-dynamic"]), 4
        )
    if {"onnxruntime", "onnxruntime-int8"} <= set(backends):
        for kind, totals in (("bare", bare), ("service", served)):
            ratios[f"int8_vs_fp32_{kind}"] = round(
                rate(totals["onnxruntime-int8"]) / rate(totals["onnxruntime"]), 4
            )
    result.update(
        cpu_default=default,
        ratios=ratios,
        threads=thread_settings().to_dict(),
        cpu_flags=cpu_flags(),
        clients=args.clients,
        requests_per_backend=per_round * args.rounds,
        rounds=args.rounds,
        persons_per_request=round(persons_per_request, 2),
        max_batch=args.max_batch,
        model=f"{args.preset} flip-fused, random weights",
        load_average=os.getloadavg(),
        machine=machine(),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
