"""GEMM peaks of this CPU, measured with PyTorch alone: nothing of simplepose is imported here,
and ``bench/roofline.py`` runs this file as a subprocess with ``ONEDNN_MAX_CPU_ISA`` removed from
its environment, so oneDNN may use every ISA the CPU has (AVX-512, VNNI, AMX).

* fp32: ``torch.matmul`` on float32 (MKL/oneDNN sgemm);
* bf16: ``torch.matmul`` on bfloat16 tensors (oneDNN; AMX tiles where the CPU has amx_bf16);
* int8: ``torch._int_mm`` (int8 x int8 -> int32) where this PyTorch build runs it on CPU.

Square n x n x n GEMMs at each of ``--sizes``; the peak is the best of ``--repeats`` timed calls
after a warm-up over every size (a peak is what the hardware can do, not what a loaded machine
did on average). On a shared machine a call longer than the scheduler's time slice is always
cut by other processes, so the short calls of the smaller sizes are the ones that see the
hardware alone: the per-size figures show it. One GEMM is 2 n^3 operations (a multiply and an
add per MAC). Likewise an n-thread call waits for all n threads to be scheduled at once, which
a loaded machine rarely grants: the peaks are measured with 1 thread and with ``--threads``, and
the machine's peak is the larger of the ``--threads`` figure and ``--threads`` x the 1-thread
figure (GEMM scales with cores; the JSON says which one it is). Prints one JSON line.

    python bench/_gemm_peak.py --threads 2 --sizes 512,1024,2048
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable


def best_seconds(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: kernel selection, AMX tile configuration, page faults
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_rates(size: int, repeats: int) -> dict[str, dict]:
    """GFLOP/s (GOP/s for int8) of the best call per precision at one size."""
    import torch

    ops = 2.0 * size**3
    gen = torch.Generator().manual_seed(0)
    a32 = torch.randn(size, size, generator=gen)
    b32 = torch.randn(size, size, generator=gen)
    a16, b16 = a32.bfloat16(), b32.bfloat16()
    calls: dict[str, Callable[[], object] | str] = {
        "fp32": lambda: torch.matmul(a32, b32),
        "bf16": lambda: torch.matmul(a16, b16),
    }
    int_mm = getattr(torch, "_int_mm", None)
    if int_mm is None:
        calls["int8"] = "this PyTorch has no torch._int_mm"
    else:
        a8 = torch.randint(-128, 127, (size, size), dtype=torch.int8, generator=gen)
        b8 = torch.randint(-128, 127, (size, size), dtype=torch.int8, generator=gen)
        calls["int8"] = lambda: int_mm(a8, b8)
    peaks: dict[str, dict] = {}
    for name, call in calls.items():
        if isinstance(call, str):
            peaks[name] = {"measured": False, "reason": call}
            continue
        try:
            seconds = best_seconds(call, repeats)
        except RuntimeError as exc:  # e.g. an op this build does not implement on CPU
            peaks[name] = {"measured": False, "reason": str(exc).splitlines()[0][:200]}
            continue
        peaks[name] = {
            "measured": True,
            "gflop_s": round(ops / seconds / 1e9, 1),
            "best_ms": round(seconds * 1000, 3),
        }
    return peaks


def gemm_peaks(sizes: list[int], repeats: int) -> dict[str, dict]:
    """The best rate per precision over ``sizes``, and every size's rates."""
    by_size = {n: gemm_rates(n, repeats) for n in sizes}
    peaks: dict[str, dict] = {}
    for name in by_size[sizes[0]]:
        measured = {n: r[name] for n, r in by_size.items() if r[name]["measured"]}
        if not measured:
            peaks[name] = by_size[sizes[0]][name]
            continue
        best = max(measured, key=lambda n: measured[n]["gflop_s"])
        peaks[name] = {**measured[best], "size": best,
                       "by_size": {str(n): m["gflop_s"] for n, m in measured.items()}}  # fmt: skip
    return peaks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--sizes", default="512,1024,2048", help="n of the n x n x n GEMMs")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    import torch

    sizes = [int(n) for n in args.sizes.split(",")]
    by_threads = {}
    for threads in sorted({1, args.threads}):
        torch.set_num_threads(threads)
        by_threads[threads] = gemm_peaks(sizes, args.repeats)
    peaks = {}
    for name, at_n in by_threads[args.threads].items():
        at_1 = by_threads[1][name]
        if not at_n["measured"]:
            peaks[name] = at_n
            continue
        scaled = args.threads * at_1["gflop_s"] if at_1["measured"] else 0.0
        peaks[name] = {
            "measured": True,
            "gflop_s": round(max(at_n["gflop_s"], scaled), 1),
            "from": f"{args.threads} threads" if at_n["gflop_s"] >= scaled
            else f"{args.threads} x the 1-thread figure",
            f"at_{args.threads}_threads": at_n,
            "at_1_thread": at_1,
        }  # fmt: skip
    result = {
        "peaks": peaks,
        "sizes": sizes,
        "repeats": args.repeats,
        "threads": args.threads,
        "torch": torch.__version__,
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "mkldnn_bf16_supported": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
