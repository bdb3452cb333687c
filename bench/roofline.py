"""Roofline check of the CPU backends: how close each runs to what the machine can do.

1. GEMM peaks of the machine (fp32; bf16 and int8 where PyTorch runs them on this CPU), measured
   by ``bench/_gemm_peak.py`` in its own process: nothing of simplepose imported, no
   ``ONEDNN_MAX_CPU_ISA`` in its environment.
2. The model's work, counted from the exported FP32 ONNX graph (not written down anywhere):
   the MACs of every Conv, ConvTranspose, Gemm and MatMul from the graph's inferred shapes,
   divided by the bucket's batch. The flip test is fused, so one person costs two forward
   passes; FLOP = 2 x MAC.
3. Per backend (``simplepose.runtime.backends``: every backend the model directory can run, or
   ``--backends``) the bare persons/s at batch ``--batch`` on random crops, each backend in its
   own worker process (MindSpore with its ``ONEDNN_MAX_CPU_ISA=AVX2``, the others with
   ``ONEDNN_MAX_CPU_ISA=ALL``, oneDNN's no-cap value), in interleaved rounds; then achieved
   GFLOP/s = persons/s x GFLOP/person and its fraction of the peak of the backend's precision.
   On a loaded machine the wall-clock rate is the share of the cores the worker got, so each
   backend also gets GFLOP per CPU-second of its process against the per-core peak
   (``fraction_of_peak_per_core``; spin-waiting threads count as CPU time, so it errs low).

The R50 256x192 model directory is the one ``bench/serve_throughput.py`` builds (random
weights: speed does not depend on them; INT8 calibrated on coco-mini train persons). Last line:
one JSON.

    python bench/roofline.py --data ../shared/data/coco-mini
    python bench/roofline.py --small --batch-sizes 1,2 --gemm-sizes 256 --gemm-repeats 3 \
        --seconds 0.3 --rounds 1   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402
from _rounds import Worker, clean_env, serve_rounds  # noqa: E402

HERE = Path(__file__).resolve().parent
MAC_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def gemm_peaks(threads: int, sizes: str, repeats: int) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "_gemm_peak.py"), "--threads", str(threads),
           "--sizes", sizes, "--repeats", str(repeats)]  # fmt: skip
    out = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def graph_macs(path: Path) -> dict[str, int]:
    """MACs per op type of one ONNX graph, from its initializers and inferred shapes."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    shapes = {t.name: list(t.dims) for t in graph.initializer}
    for v in (*graph.input, *graph.value_info, *graph.output):
        dims = v.type.tensor_type.shape.dim
        shapes[v.name] = [d.dim_value for d in dims]
    macs: dict[str, int] = {}
    for node in graph.node:
        if node.op_type not in MAC_OPS:
            continue
        a, b, out = shapes[node.input[0]], shapes[node.input[1]], shapes[node.output[0]]
        group = next((attr.i for attr in node.attribute if attr.name == "group"), 1)
        if node.op_type == "Conv":  # out (N, Cout, H, W), weight (Cout, Cin/g, kh, kw)
            n = _prod(out) * _prod(b[1:])
        elif node.op_type == "ConvTranspose":  # in (N, Cin, H, W), weight (Cin, Cout/g, kh, kw)
            n = _prod(a) * _prod(b[1:])
        else:  # out (..., M, N), inner dimension K = a[-1]
            n = _prod(out) * a[-1]
        if min(a + b + out, default=0) <= 0 or group < 1:
            raise ValueError(f"{path}: unknown shape at {node.op_type} {node.name!r}")
        macs[node.op_type] = macs.get(node.op_type, 0) + n
    return macs


def _prod(dims: list[int]) -> int:
    total = 1
    for d in dims:
        total *= d
    return total


def build_model(workdir: Path, data: Path, sizes: tuple[int, ...], small: bool) -> Path:
    """The model directory: serve_throughput.py's R50 one, or (``small``) the random R18 96x64
    of the HTTP benches with the same graphs."""
    from serve_throughput import build_model as build_r50

    if not small:
        return build_r50(workdir, data, sizes)
    from _service import small_checkpoint

    from simplepose.config.model_info import ModelInfo
    from simplepose.export.exporter import export_model

    out = workdir / "r18_small_buckets"
    have = ModelInfo.load(out) if (out / "model.json").is_file() else None
    if have is None or have.bucket_sizes("onnx", "int8") != sizes:
        ckpt = small_checkpoint(workdir)
        export_model(ckpt, out, batch_sizes=sizes)
        export_model(ckpt, out, fmt="onnx", batch_sizes=sizes, quantize="int8", calibration=data)
    return out


def worker(backend: str, model_dir: Path, batch: int) -> None:
    """Worker process: one backend's bare rate on random crops, a round per request."""
    import numpy as np

    from simplepose.runtime.backends import BACKEND_SPECS
    from simplepose.runtime.model_loader import load_model

    if BACKEND_SPECS[backend].runtime == "mindspore":
        from simplepose.runtime.device import select_device

        select_device("CPU")
    model = load_model(model_dir, backend=backend)
    width, height = model.info.model.input_size
    x = np.random.default_rng(0).standard_normal((batch, 3, height, width), np.float32)
    model(x)  # warm-up

    def measure(request: dict[str, Any]) -> dict[str, Any]:
        done, start, cpu = 0, time.perf_counter(), time.process_time()
        while done == 0 or time.perf_counter() - start < request["seconds"]:
            model(x)
            done += batch
        return {"persons": done, "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu}  # fmt: skip

    serve_rounds(measure)


def backend_env(runtime: str) -> dict[str, str]:
    return clean_env({"ONEDNN_MAX_CPU_ISA": "AVX2" if runtime == "mindspore" else "ALL"})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    p.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    p.add_argument("--small", action="store_true", help="random R18 96x64 (smoke test)")
    p.add_argument("--batch-sizes", default="1,2,4,8,16", help="exported buckets")
    p.add_argument("--batch", type=int, help="bare-runtime batch (default: largest bucket)")
    p.add_argument("--backends", help="comma-separated (default: all the directory can run)")
    p.add_argument("--seconds", type=float, default=8.0, help="per backend and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--gemm-sizes", default="512,1024,2048")
    p.add_argument("--gemm-repeats", type=int, default=20)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", type=Path, help="an exported model directory (default: build)")
    args = p.parse_args()
    if args.worker:
        return worker(args.worker, args.model_dir, args.batch)

    import simplepose  # noqa: F401  (MindSpore's oneDNN cap before it loads: this process exports)
    from simplepose.config.model_info import ModelInfo
    from simplepose.runtime.backends import BACKEND_SPECS, available_backends
    from simplepose.runtime.buckets import parse_batch_sizes
    from simplepose.runtime.onnx_model import onnxruntime_installed

    args.workdir.mkdir(parents=True, exist_ok=True)
    peaks = gemm_peaks(args.threads, args.gemm_sizes, args.gemm_repeats)
    print(f"GEMM peaks: {peaks['peaks']}", file=sys.stderr)
    model_dir = args.model_dir or build_model(
        args.workdir, args.data, parse_batch_sizes(args.batch_sizes), args.small
    )
    info = ModelInfo.load(model_dir)
    sizes = info.bucket_sizes("onnx")
    batch = args.batch or max(sizes)
    fp32_graph = model_dir / info.bucket_files("onnx")[max(sizes)]
    macs = graph_macs(fp32_graph)
    gmac_person = sum(macs.values()) / max(sizes) / 1e9
    gflop_person = 2 * gmac_person
    names = (
        args.backends.split(",")
        if args.backends
        else available_backends(info, onnxruntime_installed())
    )
    rates = {b: [0, 0.0, 0.0] for b in names}  # persons, seconds, CPU seconds
    workers: dict[str, Worker] = {}
    try:
        for b in names:
            cmd = [sys.executable, __file__, "--worker", b, "--model-dir", str(model_dir),
                   "--batch", str(batch)]  # fmt: skip
            workers[b] = Worker(b, cmd, backend_env(BACKEND_SPECS[b].runtime))
        for r in range(args.rounds):
            for b in names:
                answer = workers[b].ask(seconds=args.seconds)
                rates[b][0] += answer["persons"]
                rates[b][1] += answer["seconds"]
                rates[b][2] += answer["cpu_seconds"]
                print(f"round {r + 1}/{args.rounds} {b}: {rates[b][0] / rates[b][1]:.2f} "
                      f"persons/s, load {os.getloadavg()[0]:.1f}", file=sys.stderr)  # fmt: skip
    finally:
        for w in workers.values():
            w.close()
    backends = {}
    for b in names:
        precision = BACKEND_SPECS[b].precision
        persons_s = rates[b][0] / rates[b][1]
        achieved = persons_s * gflop_person
        # per CPU-second of the worker: what a core did while it ran, whatever else ran
        per_cpu_s = rates[b][0] * gflop_person / rates[b][2]
        peak = peaks["peaks"].get(precision, {})
        peak_gflop_s = peak.get("gflop_s") if peak.get("measured") else None
        backends[b] = {
            "persons_per_s": round(persons_s, 3),
            "precision": precision,
            "runtime": BACKEND_SPECS[b].runtime,
            "achieved_gflop_s": round(achieved, 1),
            "peak_gflop_s": peak_gflop_s,
            "fraction_of_peak": round(achieved / peak_gflop_s, 3) if peak_gflop_s else None,
            "fraction_of_fp32_peak": round(achieved / peaks["peaks"]["fp32"]["gflop_s"], 3),
            "cpu_ms_per_person": round(1000 * rates[b][2] / rates[b][0], 1),
            "gflop_per_cpu_second": round(per_cpu_s, 1),
            "fraction_of_peak_per_core": (
                round(per_cpu_s / (peak_gflop_s / args.threads), 3) if peak_gflop_s else None
            ),
        }
    print(json.dumps({
        "gemm": peaks,
        "model": {
            "name": f"R{info.model.depth} {'x'.join(map(str, info.model.input_size[::-1]))}, flip fused",
            "input_size": list(info.model.input_size),
            "gmac_per_forward": round(gmac_person / 2, 3),
            "gflop_per_person_flip_fused": round(gflop_person, 2),
            "macs_by_op": macs,
            "counted_from": f"{fp32_graph.name} (batch {max(sizes)})",
        },
        "backends": backends,
        "batch": batch,
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine": machine(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
