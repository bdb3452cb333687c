"""ONNX Runtime's spinning intra-op threads on or off: the service and the bare runtime.

``simplepose.runtime.threads`` turns ONNX Runtime's busy-waiting off by default (``SIMPLEPOSE_SPIN_WAIT``
turns it on). This bench is the measurement behind that default: the same model directory as
``serve_throughput.py`` (R50 256x192, flip fused, ONNX FP32 or INT8 buckets), two services that
differ only in ``SIMPLEPOSE_SPIN_WAIT`` and two bare sessions that differ only in the setting,
measured in interleaved rounds so a load change on the machine hits both. Last line: JSON with
persons/s of each and the ratios off / on.

    python bench/spin_wait.py --data ../shared/data/coco-mini
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _coco import val_person_boxes  # noqa: E402
from _machine import machine  # noqa: E402
from _service import R50_PRESET, ServiceProcess  # noqa: E402
from serve_throughput import build_model, crops_of, direct_rate, rate, run_clients  # noqa: E402

SETTINGS = {"spin_off": "0", "spin_on": "1"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    parser.add_argument(
        "--backend", default="onnxruntime", choices=["onnxruntime", "onnxruntime-int8"]
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=16, help="service requests per round")
    parser.add_argument("--direct-seconds", type=float, default=6.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--batch-sizes", help="exported buckets (default: the service's)")
    parser.add_argument("--preset", default=R50_PRESET, help="the random-weight pose model")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    from simplepose.runtime.buckets import DEFAULT_BATCH_SIZES, parse_batch_sizes
    from simplepose.runtime.onnx_model import OnnxModel
    from simplepose.runtime.threads import thread_settings

    sizes = parse_batch_sizes(args.batch_sizes) if args.batch_sizes else DEFAULT_BATCH_SIZES
    model_dir = build_model(args.workdir, args.data, sizes, args.preset)
    requests = val_person_boxes(args.data, 12, 3, with_keypoints=True)
    intra = thread_settings().intra_op
    bare_models = {
        name: OnnxModel(model_dir, args.backend, threads=intra, spin_wait=flag == "1")
        for name, flag in SETTINGS.items()
    }
    crops = crops_of(requests, bare_models["spin_off"])
    service_args = ["--backend", args.backend, "--max-batch", str(args.max_batch)]
    services = {}
    bare = {name: [0.0, 0.0] for name in SETTINGS}
    served = {name: [0.0, 0.0] for name in SETTINGS}
    try:
        for name, flag in SETTINGS.items():
            log = args.workdir / f"serve-{name}.log"
            env = {"SIMPLEPOSE_SPIN_WAIT": flag}
            services[name] = ServiceProcess(model_dir, log, service_args, env=env).__enter__()
            run_clients(services[name].url, requests, args.clients, args.clients)  # warm-up
        for r in range(args.rounds):
            for name in SETTINGS:
                done, secs = direct_rate(
                    bare_models[name], crops, args.max_batch, args.direct_seconds
                )
                bare[name][0] += done
                bare[name][1] += secs
                seconds, _, persons = run_clients(
                    services[name].url, requests, args.clients, args.requests
                )
                served[name][0] += persons
                served[name][1] += seconds
                print(f"round {r + 1}/{args.rounds} {name}: bare {rate(bare[name]):.2f}, "
                      f"service {rate(served[name]):.2f} persons/s", file=sys.stderr)  # fmt: skip
    finally:
        for s in services.values():
            s.__exit__(None, None, None)
    result = {
        name: {
            "service_persons_per_s": round(rate(served[name]), 3),
            "bare_persons_per_s": round(rate(bare[name]), 3),
        }
        for name in SETTINGS
    }
    result["ratios"] = {
        f"{kind}_spin_off_vs_on": round(rate(totals["spin_off"]) / rate(totals["spin_on"]), 4)
        for kind, totals in (("service", served), ("bare", bare))
    }
    result.update(
        backend=args.backend,
        intra_op_threads=intra,
        rounds=args.rounds,
        requests_per_round=args.requests,
        clients=args.clients,
        load_average=os.getloadavg(),
    )
    print(json.dumps({**result, "machine": machine()}))


if __name__ == "__main__":
    main()
