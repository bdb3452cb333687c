"""Bounded schemathesis fuzz run of the service's OpenAPI schema.

Starts ``simplepose serve`` on 127.0.0.1 (a random-weight R18 96x64: this exercises the HTTP
layer, not the model), runs ``st run`` against ``/openapi.json`` with a fixed number of examples
per operation and a fixed seed, and checks: no 5xx, only documented status codes, responses
matching their documented schema and content type.

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
from _service import ServiceProcess, small_checkpoint  # noqa: E402

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


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
    with ServiceProcess(model, args.workdir / "fuzz.log", []) as service:
        cmd = [str(st), "run", f"{service.url}/openapi.json", "--checks", ",".join(CHECKS),
               "--max-examples", str(args.max_examples), "--seed", str(args.seed),
               "--phases", "examples,coverage,fuzzing", "--request-timeout", "60",
               "--no-color"]  # fmt: skip
        start = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        seconds = time.perf_counter() - start
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
    }))  # fmt: skip
    if run.returncode != 0 or not alive:
        raise SystemExit("fuzz run found problems (see above)")


if __name__ == "__main__":
    main()
