"""Where ONNX Runtime spends the time of one FP32 and one INT8 bucket: bare persons/s of each
(interleaved rounds, same input, same thread settings as the service) and, from ONNX Runtime's
own profiler, the time per operator type of the graphs it actually runs (after its graph
optimisations: QLinearConv is a fused int8 convolution, Conv / ConvTranspose / FusedConv run in
float, QuantizeLinear / DequantizeLinear mark float islands in an INT8 graph).

The model directory is one with ONNX FP32 and INT8 buckets, e.g. the one
``bench/serve_throughput.py`` builds (R50 256x192, flip fused, random weights: speed does not
depend on them, and the input is random crops of the model's size).

    python bench/serve_throughput.py --data ../shared/data/coco-mini --backends onnxruntime,onnxruntime-int8
    python bench/ort_op_profile.py --model-dir /tmp/simplepose-bench/r50_buckets

Last line: JSON with both rates, INT8 / FP32, the per-operator times, threads, CPU flags, load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402
from serve_throughput import cpu_flags  # noqa: E402

PRECISIONS = ("fp32", "int8")


def bare_rates(sessions: dict, batch: np.ndarray, rounds: int, seconds: float) -> dict:
    """Persons/s per session, in ``rounds`` interleaved rounds of about ``seconds`` each."""
    totals = {k: [0, 0.0] for k in sessions}
    for _ in range(rounds):
        for k, (session, name) in sessions.items():
            start, calls = time.perf_counter(), 0
            while time.perf_counter() - start < seconds or calls < 2:
                session.run(None, {name: batch})
                calls += 1
            totals[k][0] += calls * len(batch)
            totals[k][1] += time.perf_counter() - start
    return {k: done / secs for k, (done, secs) in totals.items()}


def op_times(path: Path, batch: np.ndarray, runs: int, scratch: Path) -> dict[str, dict]:
    """ms per run and node count per operator type of the graph ONNX Runtime runs for ``path``."""
    import onnxruntime as ort

    from simplepose.runtime.onnx_model import session_options
    from simplepose.runtime.threads import thread_settings

    options = session_options(thread_settings())
    options.enable_profiling = True
    options.profile_file_prefix = str(scratch / path.stem)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for _ in range(runs + 1):  # the first call (allocations) is not counted
        session.run(None, {name: batch})
    ms: dict[str, float] = defaultdict(float)
    nodes: dict[str, set] = defaultdict(set)
    for e in _events(session.end_profiling()):
        op = e["args"]["op_name"]
        if e["name"] in nodes[op]:
            ms[op] += e["dur"] / 1000 / runs
        nodes[op].add(e["name"])
    return {
        op: {"ms": round(t, 1), "nodes": len(nodes[op])}
        for op, t in sorted(ms.items(), key=lambda kv: -kv[1])
    }


def _events(profile: str) -> list[dict]:
    with open(profile) as f:
        trace = json.load(f)
    os.unlink(profile)
    return [e for e in trace if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/simplepose-bench/r50_buckets"))
    parser.add_argument("--batch-size", type=int, default=16, help="the bucket to run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="per backend and round")
    parser.add_argument("--profile-runs", type=int, default=3)
    args = parser.parse_args()

    import simplepose  # noqa: F401
    from simplepose.config.model_info import ModelInfo
    from simplepose.runtime.onnx_model import cpu_session
    from simplepose.runtime.threads import thread_settings

    info = ModelInfo.load(args.model_dir)
    files = {p: info.bucket_files("onnx", p).get(args.batch_size) for p in PRECISIONS}
    if not all(files.values()):
        raise SystemExit(f"{args.model_dir} has no ONNX FP32 and INT8 bucket {args.batch_size}")
    w, h = info.model.input_size
    batch = np.random.default_rng(0).standard_normal((args.batch_size, 3, h, w), np.float32)
    load_before = os.getloadavg()
    sessions = {}
    for p, f in files.items():
        session = cpu_session(args.model_dir / f)
        sessions[p] = (session, session.get_inputs()[0].name)
        session.run(None, {sessions[p][1]: batch})
    rates = bare_rates(sessions, batch, args.rounds, args.seconds)
    del sessions
    with tempfile.TemporaryDirectory() as tmp:
        ops = {p: op_times(args.model_dir / f, batch, args.profile_runs, Path(tmp))
               for p, f in files.items()}  # fmt: skip
    for p in PRECISIONS:
        print(
            f"{p}: {rates[p]:.2f} persons/s; ms per {args.batch_size}-crop call:", file=sys.stderr
        )
        for op, row in ops[p].items():
            print(f"  {op:24s} {row['ms']:8.1f}  ({row['nodes']} nodes)", file=sys.stderr)
    print(json.dumps({
        "persons_per_s": {p: round(r, 2) for p, r in rates.items()},
        "int8_vs_fp32": round(rates["int8"] / rates["fp32"], 3),
        "ms_per_call_by_op": ops,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "threads": thread_settings().to_dict(),
        "cpu_flags": cpu_flags(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "machine": machine(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
