"""How long the service's image checks take on the worst uploads: refusing files built to
make header parsers walk 20 MB of empty structure, and decoding the largest files accepted.

    python bench/hostile_uploads.py                    # default limits (20 MB, 40 M pixels)
    python bench/hostile_uploads.py --max-mb 1 --skip-accepted   # smoke test size
    python bench/hostile_uploads.py --skip-accepted --http        # + through a served /keypoints

Last line: JSON with per-file answers and seconds (wall, and CPU of the checking thread),
and the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _hostile import (  # noqa: E402
    MB,
    hostile_structure_over_http,
    hostile_structure_uploads,
    worst_accepted_uploads,
)
from _machine import machine  # noqa: E402
from _service import small_checkpoint  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-mb", type=float, default=20.0, help="upload limit (MB)")
    parser.add_argument("--max-pixels", type=int, default=40_000_000)
    parser.add_argument("--skip-accepted", action="store_true", help="only the refusals")
    parser.add_argument("--http", action="store_true", help="also post the bombs to a service")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    args = parser.parse_args(argv)
    max_bytes = int(args.max_mb * MB)
    result = {
        "hostile": hostile_structure_uploads(max_bytes, args.max_pixels),
        "machine": machine(),
    }
    if not args.skip_accepted:
        result["accepted"] = worst_accepted_uploads(max_bytes, args.max_pixels)
    if args.http:
        args.workdir.mkdir(parents=True, exist_ok=True)
        model = small_checkpoint(args.workdir)
        result["over_http"] = hostile_structure_over_http(model, args.workdir, max_bytes)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
