"""Persons/s per core of the CPU default service as it gets more cores.

One ``simplepose serve`` (backend ``auto``, oneDNN uncapped as a service without MindSpore
runs) per core count, each pinned with ``taskset`` to the first C CPUs: the service sizes its
sessions x threads from that affinity (``simplepose.runtime.threads.thread_plan``). The same
clients post the same coco-mini val images to each in interleaved rounds. Reported per core
count: persons/s, persons/s per core and its ratio to the 2-core figure (goal: >= 0.8 as cores
grow), with the thread plan the service chose. Core counts are 1, 2, 4, ... up to the CPUs this
process may use; on a 2-core machine that is 1 and 2 only.

    python bench/cores_sweep.py --data ../shared/data/coco-mini
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

import httpx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _coco import val_person_boxes  # noqa: E402
from _machine import UNCAPPED_ENV, machine  # noqa: E402
from _service import R50_PRESET, ServiceProcess  # noqa: E402
from serve_throughput import build_model, rate, run_clients  # noqa: E402


def core_counts(usable: list[int]) -> list[int]:
    counts, c = [], 1
    while c <= len(usable):
        counts.append(c)
        c *= 2
    if counts[-1] != len(usable):
        counts.append(len(usable))
    return counts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    p.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=24, help="per core count and round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--batch-sizes", default="1,2,4,8,16")
    p.add_argument("--preset", default=R50_PRESET, help="the served model (random weights)")
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    from simplepose.runtime.buckets import parse_batch_sizes
    from simplepose.runtime.device import select_device

    select_device("CPU")
    model_dir = build_model(
        args.workdir, args.data, parse_batch_sizes(args.batch_sizes), args.preset
    )
    requests = val_person_boxes(args.data, args.images, 3, with_keypoints=True)
    cpus = sorted(os.sched_getaffinity(0))
    counts = core_counts(cpus)
    services, totals, cards = {}, {c: [0.0, 0.0] for c in counts}, {}
    try:
        for c in counts:
            svc = ServiceProcess(model_dir, args.workdir / f"cores-{c}.log", [], UNCAPPED_ENV)
            svc.cmd = ["taskset", "-c", ",".join(map(str, cpus[:c])), *svc.cmd]
            services[c] = svc.__enter__()
            run_clients(svc.url, requests, args.clients, 4)  # warm-up
            cards[c] = httpx.get(f"{svc.url}/readyz").json()["model"]
        for r in range(args.rounds):
            for c in counts:
                seconds, _, persons = run_clients(
                    services[c].url, requests, args.clients, args.requests
                )
                totals[c][0] += persons
                totals[c][1] += seconds
                print(f"round {r + 1}: {c} cores {rate(totals[c]):.2f} persons/s",
                      file=sys.stderr)  # fmt: skip
    finally:
        for svc in services.values():
            svc.__exit__(None, None, None)
    base = 2 if 2 in counts else counts[-1]
    per_core_base = rate(totals[base]) / base
    result = {
        str(c): {
            "persons_per_s": round(rate(totals[c]), 3),
            "persons_per_s_per_core": round(rate(totals[c]) / c, 3),
            "per_core_vs_2_cores": round(rate(totals[c]) / c / per_core_base, 3),
            "backend": cards[c]["backend"],
            "precision": cards[c]["precision"],
            "sessions": cards[c].get("sessions", 1),
        }
        for c in counts
    }
    print(json.dumps({"cores": result, "base_cores": base, "machine": machine()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
