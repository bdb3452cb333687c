"""Throughput and latency of the keypoint service vs the bare model, on the same crops.

R50 256x192 with the flip test fused (random weights: speed does not depend on them), exported
by the export stage to MindIR (dynamic batch) and ONNX (fixed batch). One run measures:

1. the service: ``simplepose serve`` on 127.0.0.1, N concurrent clients posting real coco-mini
   val images with their ground-truth person boxes (images with several persons), a bounded
   number of requests;
2. MindSpore directly: the same MindIR graph called on the same crops, batch = --max-batch;
3. ONNX Runtime: the same fused graph on the same crops, batch = --max-batch.

Last line: JSON with persons_per_s, direct_mindspore_persons_per_s, ort_persons_per_s,
overhead_fraction (1 - service / direct MindSpore), p50_ms, the tail latency and the settings.
The tail is p99_ms only with at least P99_MIN_SAMPLES request latencies (a 99th percentile of
fewer samples is just their maximum); otherwise it is reported as max_ms.

    python bench/serve_throughput.py --data ../shared/data/coco-mini --clients 8
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _service import ServiceProcess  # noqa: E402

PRESET = "res50_256x192"
# A 99th percentile needs at least 100 samples to be more than the maximum of what was seen.
P99_MIN_SAMPLES = 100


def build_models(workdir: Path, onnx_batch: int) -> tuple[Path, Path]:
    """Random-weight R50 checkpoint -> flip-fused MindIR (dynamic) and ONNX (fixed batch)."""
    import mindspore as ms
    from simplepose.export.exporter import export_model

    from simplepose.config import get_preset
    from simplepose.network.checkpoint import save_pose_checkpoint
    from simplepose.network.pose_net import PoseResNet

    ckpt = workdir / "r50_random.ckpt"
    mindir, onnx = workdir / "r50_mindir", workdir / f"r50_onnx_b{onnx_batch}"
    if not ckpt.is_file():
        ms.set_seed(0)
        config = get_preset(PRESET)
        save_pose_checkpoint(PoseResNet(config.model), ckpt, config, {"note": "random weights"})
    if not (mindir / "model.json").is_file():
        export_model(ckpt, mindir, flip=True)
    if not (onnx / "model.json").is_file():
        export_model(ckpt, onnx, flip=True, fmt="onnx", batch_size=onnx_batch)
    return mindir, onnx


def pick_requests(data: Path, min_persons: int, limit: int) -> list[tuple[Path, list]]:
    anns = json.loads((data / "annotations" / "person_keypoints_val2017.json").read_text())
    by_image: dict[int, list] = {}
    for a in anns["annotations"]:
        if not a.get("iscrowd") and a.get("num_keypoints", 0) > 0 and min(a["bbox"][2:]) >= 8:
            by_image.setdefault(a["image_id"], []).append(a["bbox"])
    images = {i["id"]: i for i in anns["images"]}
    picked = [
        (data / "val2017" / images[i]["file_name"], boxes)
        for i, boxes in sorted(by_image.items())
        if len(boxes) >= min_persons
    ]
    return picked[:limit]


def crops_of(requests, model) -> list[np.ndarray]:
    from simplepose.pipeline import PosePipeline, read_image

    pipeline = PosePipeline(model)
    return [pipeline.preprocess(read_image(str(p)), np.array(b)).batch for p, b in requests]


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
    payloads = [(p.read_bytes(), json.dumps(b), len(b)) for p, b in requests]
    latencies: list[float] = []
    persons = [0]
    errors: list[str] = []
    counter = iter(range(total))
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=600) as client:
            while True:
                with lock:
                    k = next(counter, None)
                if k is None:
                    return
                data, boxes, n = payloads[k % len(payloads)]
                t0 = time.perf_counter()
                r = client.post(f"{url}/keypoints", files={"image": ("i.jpg", data, "image/jpeg")},
                                data={"boxes": boxes})  # fmt: skip
                dt = (time.perf_counter() - t0) * 1000
                with lock:
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        latencies.append(dt)
                        persons[0] += len(r.json()["persons"])

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return seconds, latencies, persons[0]


def tail_latency(latencies: list[float]) -> tuple[str, float]:
    """("p99", value) with enough samples for a 99th percentile, else ("max", the maximum)."""
    if len(latencies) >= P99_MIN_SAMPLES:
        return "p99", float(np.percentile(latencies, 99))
    return "max", float(max(latencies))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=48, help="total requests to the service")
    parser.add_argument("--warmup-requests", type=int, default=8)
    parser.add_argument("--min-persons", type=int, default=3, help="persons per image, at least")
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=20.0)
    parser.add_argument("--direct-seconds", type=float, default=10.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    import simplepose  # noqa: F401
    from simplepose.network.device import select_device
    from simplepose.network.runtime import load_model

    select_device("CPU")
    mindir, onnx = build_models(args.workdir, args.max_batch)
    requests = pick_requests(args.data, args.min_persons, args.images)
    if not requests:
        raise SystemExit(f"no val image with >= {args.min_persons} persons in {args.data}")
    persons_per_request = statistics.mean(len(b) for _, b in requests)
    print(f"{len(requests)} images, {persons_per_request:.1f} persons each", file=sys.stderr)

    ms_model, ort_model = load_model(mindir), load_model(onnx)
    crops = crops_of(requests, ms_model)
    warm = np.concatenate(crops)[: args.max_batch]
    ms_model(warm)
    ort_model(warm)
    # The machine is shared: measure in interleaved rounds so a load change hits all three.
    totals = {"direct": [0.0, 0.0], "ort": [0.0, 0.0], "service": [0.0, 0.0]}
    lat: list[float] = []
    service_args = ["--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    per_round = max(1, args.requests // args.rounds)
    with ServiceProcess(mindir, args.workdir / "serve.log", service_args) as service:
        run_clients(service.url, requests, args.clients, args.warmup_requests)
        for r in range(args.rounds):
            for name, model in (("direct", ms_model), ("ort", ort_model)):
                done, secs = direct_rate(model, crops, args.max_batch, args.direct_seconds)
                totals[name][0] += done
                totals[name][1] += secs
            seconds, round_lat, persons = run_clients(
                service.url, requests, args.clients, per_round
            )
            totals["service"][0] += persons
            totals["service"][1] += seconds
            lat += round_lat
            rates = {k: v[0] / v[1] for k, v in totals.items() if v[1]}
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{k} {v:.2f} persons/s" for k, v in rates.items()), file=sys.stderr)  # fmt: skip
        metrics = httpx.get(f"{service.url}/metrics").text
    direct = totals["direct"][0] / totals["direct"][1]
    ort = totals["ort"][0] / totals["ort"][1]
    persons, seconds = totals["service"]
    rate = persons / seconds
    lat.sort()
    p50 = lat[len(lat) // 2]
    tail_name, tail = tail_latency(lat)
    batches = [line for line in metrics.splitlines() if line.startswith("simplepose_batch_size_")]
    count = float(
        next(x for x in batches if x.startswith("simplepose_batch_size_count")).split()[-1]
    )
    total = float(next(x for x in batches if x.startswith("simplepose_batch_size_sum")).split()[-1])
    print(f"service: {rate:.2f} persons/s, p50 {p50:.0f} ms, {tail_name} {tail:.0f} ms, "
          f"mean batch {total / count:.1f}", file=sys.stderr)  # fmt: skip
    print(json.dumps({
        "persons_per_s": round(rate, 3),
        "direct_mindspore_persons_per_s": round(direct, 3),
        "ort_persons_per_s": round(ort, 3),
        "overhead_fraction": round(1 - rate / direct, 4),
        "service_vs_direct": round(rate / direct, 4),
        "service_vs_ort": round(rate / ort, 4),
        "p50_ms": round(p50, 1),
        f"{tail_name}_ms": round(tail, 1),
        f"{tail_name}_over_p50": round(tail / p50, 3),
        "latency_samples": len(lat),
        "clients": args.clients,
        "requests": per_round * args.rounds,
        "rounds": args.rounds,
        "persons_per_request": round(persons_per_request, 2),
        "mean_batch": round(total / count, 2),
        "max_batch": args.max_batch,
        "model": f"{PRESET} flip-fused, random weights",
    }))  # fmt: skip


if __name__ == "__main__":
    main()
