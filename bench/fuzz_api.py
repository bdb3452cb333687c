"""Bounded schemathesis fuzz run of the service's OpenAPI schema.

Starts ``simplepose serve`` on 127.0.0.1 (a random-weight R18 96x64: this exercises the HTTP
layer, not the model), runs ``st run`` against ``/openapi.json`` with a fixed number of examples
per operation and a fixed seed, and checks: no 5xx, only documented status codes, responses
matching their documented schema and content type. Then posts the crafted hostile uploads of
``_hostile.py`` (which a schema cannot generate) and requires no 5xx for them either.

    python bench/fuzz_api.py --max-examples 50
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cv2  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
from _hostile import hostile_requests  # noqa: E402
from _machine import machine  # noqa: E402
from _service import ServiceProcess, small_checkpoint  # noqa: E402

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


def post_hostile(url: str) -> dict[str, int]:
    """The crafted uploads schemathesis cannot generate (``_hostile.py``): status of each."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    png = cv2.imencode(".png", rgb)[1].tobytes()
    with httpx.Client(base_url=url, timeout=120) as client:
        return {name: client.request(**kw).status_code for name, kw in hostile_requests(png, rgb)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    parser.add_argument("--max-examples", type=int, default=50, help="per API operation")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    st = Path(sys.executable).with_name("st")
    model = small_checkpoint(args.workdir)
    # No request budget: the fuzzer sends faster than a caller may, and with one most cases
    # would meet the (documented) 429 instead of the route behind it.
    env = {"SIMPLEPOSE_RATE_LIMIT_RPS": "0"}
    with ServiceProcess(model, args.workdir / "fuzz.log", [], env) as service:
        cmd = [str(st), "run", f"{service.url}/openapi.json", "--checks", ",".join(CHECKS),
               "--max-examples", str(args.max_examples), "--seed", str(args.seed),
               "--phases", "examples,coverage,fuzzing", "--request-timeout", "60",
               "--no-color"]  # fmt: skip
        start = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        seconds = time.perf_counter() - start
        hostile = post_hostile(service.url)
        alive = service.proc.poll() is None
    output = run.stdout + run.stderr
    print(output[-4000:], file=sys.stderr)
    cases = re.search(r"(\d+) generated", output)
    print(json.dumps({
        "exit_code": run.returncode,
        "passed": run.returncode == 0 and alive,
        "test_cases": int(cases.group(1)) if cases else None,
        "max_examples_per_operation": args.max_examples,
        "checks": list(CHECKS),
        "process_alive": alive,
        "seconds": round(seconds, 1),
        "hostile_statuses": hostile,
        "hostile_5xx": sum(code >= 500 for code in hostile.values()),
        "machine": machine(),
    }))  # fmt: skip
    if run.returncode != 0 or not alive or any(code >= 500 for code in hostile.values()):
        raise SystemExit("fuzz run found problems (see above)")


if __name__ == "__main__":
    main()
