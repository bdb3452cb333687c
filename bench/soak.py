"""Soak: a few thousand mixed good and bad requests against ``simplepose serve``.

The service runs what it runs by default on CPU: ``--backend auto`` on a model directory with
ONNX FP32 buckets, i.e. ONNX Runtime (the R50 256x192 directory of bench/serve_throughput.py,
random weights; ``--small``: the random R18 96x64 of the HTTP benches with the same graphs).

Counts responses by status, requires zero 5xx and a live process at the end, and reports the
server's resident memory after a warm-up phase and at the end (growth = end - after warm-up).
The mix includes the hostile uploads of ``_hostile.py`` (JPEG of 3000 scans, PNG of 160k chunks,
BMP too wide for OpenCV, box JSON with huge integers or 100k-deep nesting), and the run reports
the decode time of the worst upload accepted under the default limits (20 MB, 40 M pixels).
With ``--auth`` the service requires API keys: every request carries a key, some carry none, a
wrong or a revoked one (all must get 401), and the per-request cost of the key check is
measured in-process (bench/auth_overhead.py) and reported.

    python bench/soak.py --data ../shared/data/coco-mini --requests 3000 --clients 4 --auth
    python bench/soak.py --small --batch-sizes 1,2 --requests 40 --warmup 10   # smoke test
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

import cv2  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _hostile import hostile_requests, worst_accepted_uploads  # noqa: E402
from _machine import machine  # noqa: E402
from _service import ServiceProcess  # noqa: E402
from auth_overhead import measure as measure_auth_overhead  # noqa: E402
from roofline import build_model  # noqa: E402

MB = 1 << 20


def _encode(bgr: np.ndarray, ext: str) -> bytes:
    return cv2.imencode(ext, bgr)[1].tobytes()


def build_cases(data: Path, max_upload: int) -> list[tuple[str, dict]]:
    """(name, httpx request kwargs) for each kind of request; good ones first."""
    anns = json.loads((data / "annotations" / "person_keypoints_val2017.json").read_text())
    boxes: dict[int, list] = {}
    for a in anns["annotations"]:
        if not a.get("iscrowd") and min(a["bbox"][2:]) >= 4:
            boxes.setdefault(a["image_id"], []).append(a["bbox"])
    images = [(data / "val2017" / i["file_name"], boxes.get(i["id"])) for i in anns["images"][:12]]
    jpeg = images[0][0].read_bytes()
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")

    def post(data_: bytes, ctype: str = "image/jpeg", form: dict | None = None, path="/keypoints"):
        return {"method": "POST", "url": path, "files": {"image": ("f", data_, ctype)},
                "data": form or {}}  # fmt: skip

    good = [
        (f"good_gt_boxes_{i}", post(p.read_bytes(), form={"boxes": json.dumps(b)}))
        for i, (p, b) in enumerate(images) if b
    ]  # fmt: skip
    good += [
        ("good_whole_image", post(jpeg)),
        ("good_png", post(_encode(bgr, ".png"), "image/png")),
        ("good_webp", post(_encode(bgr, ".webp"), "image/webp")),
        ("good_bmp_octet", post(_encode(bgr[::4, ::4], ".bmp"), "application/octet-stream")),
        ("good_render", post(jpeg, path="/keypoints/render")),
        ("good_argmax_nms", {**post(jpeg), "params": {"decode": "argmax", "nms": "true"}}),
        ("healthz", {"method": "GET", "url": "/healthz"}),
        ("readyz", {"method": "GET", "url": "/readyz"}),
        ("model", {"method": "GET", "url": "/v1/model"}),
        ("metrics", {"method": "GET", "url": "/metrics"}),
    ]
    huge = np.zeros((8000, 8000), np.uint8)  # 64 M pixels, compresses to a small PNG
    bad = [
        ("bad_not_image", post(b"hello, not an image", "image/jpeg")),
        ("bad_empty", post(b"")),
        ("bad_truncated", post(jpeg[: len(jpeg) * 2 // 3])),
        ("bad_content_type", post(jpeg, "text/plain")),
        ("bad_gif", post(gif.getvalue(), "image/gif")),
        ("bad_pixels", post(_encode(huge, ".png"), "image/png")),
        ("bad_upload_size", post(os.urandom(max_upload + 1024))),
        ("bad_box_outside", post(jpeg, form={"boxes": "[[5000, 5000, 10, 10]]"})),
        ("bad_box_degenerate", post(jpeg, form={"boxes": "[[10, 10, 0.2, 50]]"})),
        ("bad_box_json", post(jpeg, form={"boxes": "[[1, 2,"})),
        ("bad_too_many_boxes", post(jpeg, form={"boxes": json.dumps([[0, 0, 20, 20]] * 500)})),
        ("bad_decode_option", {**post(jpeg), "params": {"decode": "nope"}}),
        ("bad_missing_image", {"method": "POST", "url": "/keypoints", "data": {"x": "1"}}),
        ("bad_route", {"method": "GET", "url": "/nope"}),
        ("bad_method", {"method": "DELETE", "url": "/keypoints"}),
    ]
    png = _encode(bgr, ".png")
    return good + bad + hostile_requests(png, np.ascontiguousarray(bgr[:, :, ::-1]))


def auth_cases(revoked_key: str) -> list[tuple[str, dict]]:
    """Requests that must get 401 (the client sends a valid key unless a case overrides it)."""
    model = {"method": "GET", "url": "/v1/model"}
    return [
        ("bad_no_key", {**model, "headers": {"Authorization": ""}}),
        ("bad_wrong_key", {**model, "headers": {"Authorization": "Bearer sp_" + "x" * 43}}),
        ("bad_revoked_key", {**model, "headers": {"X-API-Key": revoked_key, "Authorization": ""}}),
        ("bad_key_post", {"method": "POST", "url": "/keypoints", "headers": {"X-API-Key": "no",
                          "Authorization": ""}, "files": {"image": ("f", b"x", "image/jpeg")}}),
    ]  # fmt: skip


def setup_keys(workdir: Path) -> tuple[Path, str, str]:
    """A fresh key file with a valid key and a revoked one."""
    from simplepose.serving.keyfile import create_key, revoke_key

    path = workdir / "soak_api_keys"
    path.unlink(missing_ok=True)
    key = create_key(path, "soak")
    revoked = create_key(path, "revoked")
    revoke_key(path, "revoked")
    return path, key, revoked


def _is_error_json(response: httpx.Response) -> bool:
    try:
        error = response.json()["error"]
        return bool(error["code"]) and bool(error["message"])
    except (ValueError, KeyError, TypeError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/coco-mini"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    parser.add_argument("--model", type=Path, help="a model directory (default: R50 buckets)")
    parser.add_argument("--small", action="store_true", help="random R18 96x64 buckets")
    parser.add_argument("--batch-sizes", default="1,2,4,8,16", help="buckets of the default model")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300, help="requests before the RSS baseline")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--good-fraction", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--segments", type=int, default=6, help="RSS samples during the run")
    parser.add_argument(
        "--skip-worst-upload", action="store_true", help="skip timing the worst 20 MB uploads"
    )
    parser.add_argument("--auth", action="store_true", help="API keys required (docs/access.md)")
    parser.add_argument("--rate-limit-rps", type=float, help="requests/s per key (service default)")
    args = parser.parse_args()
    worst = None if args.skip_worst_upload else worst_accepted_uploads()
    args.workdir.mkdir(parents=True, exist_ok=True)
    max_upload = 4 * MB
    cases = build_cases(args.data, max_upload)
    env = {"SIMPLEPOSE_MAX_UPLOAD_BYTES": str(max_upload), "SIMPLEPOSE_MAX_BOXES": "64"}
    client_headers: dict[str, str] = {}
    if args.auth:
        keys_file, key, revoked = setup_keys(args.workdir)
        cases += auth_cases(revoked)
        env.update(SIMPLEPOSE_AUTH="required", SIMPLEPOSE_API_KEYS_FILE=str(keys_file))
        client_headers["Authorization"] = f"Bearer {key}"
    if args.rate_limit_rps is not None:
        env["SIMPLEPOSE_RATE_LIMIT_RPS"] = str(args.rate_limit_rps)
    good = [c for c in cases if not c[0].startswith("bad_")]
    bad = [c for c in cases if c[0].startswith("bad_")]
    rng = random.Random(args.seed)
    plan = [rng.choice(good if rng.random() < args.good_fraction else bad)
            for _ in range(args.warmup + args.requests)]  # fmt: skip

    if args.model is None:
        from simplepose.runtime.buckets import parse_batch_sizes

        sizes = parse_batch_sizes(args.batch_sizes)
        args.model = build_model(args.workdir, args.data, sizes, args.small)
    model = args.model
    statuses: Counter = Counter()
    by_case: dict[str, Counter] = {}
    server_errors: list[str] = []
    non_json: list[str] = []  # error responses not shaped {"error": {"code", "message"}}
    lock = threading.Lock()
    slowest: dict[str, float] = {}  # per case, seconds (client side, under the soak's load)
    with ServiceProcess(model, args.workdir / "soak.log", [], env) as service:
        proc = psutil.Process(service.pid)

        def run(chunk: list[tuple[str, dict]]) -> None:
            with httpx.Client(base_url=service.url, timeout=120, headers=client_headers) as client:
                for name, kwargs in chunk:
                    start = time.perf_counter()
                    try:
                        r = client.request(**kwargs)
                        code, ok_json = r.status_code, r.status_code < 400 or _is_error_json(r)
                    except httpx.HTTPError as exc:
                        code, ok_json = 0, True
                        with lock:
                            server_errors.append(f"{name}: {type(exc).__name__}")
                    took = round(time.perf_counter() - start, 3)
                    with lock:
                        slowest[name] = max(slowest.get(name, 0.0), took)
                        statuses[code] += 1
                        by_case.setdefault(name, Counter())[code] += 1
                        if code >= 500:
                            server_errors.append(f"{name}: {code}")
                        if not ok_json:
                            non_json.append(f"{name}: {code}")

        def phase(items: list) -> float:
            start = time.perf_counter()
            threads = [threading.Thread(target=run, args=(items[i :: args.clients],))
                       for i in range(args.clients)]  # fmt: skip
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter() - start

        phase(plan[: args.warmup])
        rss_start = proc.memory_info().rss / MB
        measured = plan[args.warmup :]
        step = max(1, len(measured) // args.segments)
        seconds, rss_trace = 0.0, [round(rss_start, 1)]
        for first in range(0, len(measured), step):
            seconds += phase(measured[first : first + step])
            rss_trace.append(round(proc.memory_info().rss / MB, 1))
        rss_end = rss_trace[-1]
        alive = (
            service.proc.poll() is None and httpx.get(f"{service.url}/healthz").status_code == 200
        )
        card = httpx.get(f"{service.url}/readyz").json().get("model", {})
    five_xx = sum(n for code, n in statuses.items() if code >= 500 or code == 0)
    # every keyless/wrong/revoked request got 401, and no request with the valid key did
    key_cases = {name for name, _ in auth_cases("")}
    refused = all(code == 401 for name in key_cases for code in by_case.get(name, {}))
    wrongly_refused = sum(c[401] for name, c in by_case.items() if name not in key_cases)
    auth_ok = refused and wrongly_refused == 0
    for name in sorted(by_case):
        print(f"{name:24s} {dict(by_case[name])}", file=sys.stderr)
    print(json.dumps({
        "requests": len(plan),
        "model": str(model),
        "served_by": {k: card.get(k) for k in ("runtime", "backend", "precision", "batch_sizes")},
        "measured_requests": args.requests,
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors_5xx": five_xx,
        "non_json_errors": len(non_json),
        "process_alive": alive,
        "rss_after_warmup_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_growth_mb": round(rss_end - rss_start, 1),
        "rss_growth_second_half_mb": round(rss_end - rss_trace[len(rss_trace) // 2], 1),
        "rss_trace_mb": rss_trace,
        "requests_per_s": round(args.requests / seconds, 1),
        "clients": args.clients,
        "slowest_case_s": max(slowest.values(), default=0.0),
        "slowest_case": max(slowest, key=slowest.get, default=None),
        "worst_accepted_upload": worst,
        "auth": args.auth,
        "auth_401_as_expected": auth_ok,
        "auth_overhead_in_process": measure_auth_overhead(calls=5000, repeats=3) if args.auth else None,
        "machine": machine(),
    }))  # fmt: skip
    if five_xx or non_json or not alive or not auth_ok:
        raise SystemExit(f"soak failed: {server_errors[:5]} {non_json[:5]}")


if __name__ == "__main__":
    main()
