"""Frames/s of video through the service: ``POST /keypoints/video`` vs independent calls.

Starts ``simplepose serve`` on 127.0.0.1 (person detector: HOG, the service default) and, in
interleaved rounds on the real PoseTrack clip (5 frames, 1280x720, several people):

1. ``POST /keypoints/video`` with the mp4, detector on every frame (``detect_every=1``);
2. the same with the detector on every 5th frame (flow boxes in between);
3. the same 5 frames as JPEGs, as independent ``POST /keypoints`` calls, all 5 at once from 5
   client threads (each call runs the detector and the pose model; no tracking).

Frames/s = frames / wall time of a round; the median over rounds is reported, with ratios
against (3) measured in the same run. The machine is shared: numbers are noisy.

    python bench/video_throughput.py --clip ../shared/data/posetrack-clip --model DIR --rounds 5

Last line: {"video_detect_every_1_fps", "video_detect_every_5_fps", "independent_calls_fps",
"ratio_video_1", "ratio_video_5", ...}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

import httpx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402
from _service import ServiceProcess, small_checkpoint  # noqa: E402

TIMEOUT_S = 600.0


def post_video(url: str, data: bytes, detect_every: int) -> tuple[float, dict]:
    start = time.perf_counter()
    r = httpx.post(
        f"{url}/keypoints/video", params={"detect_every": detect_every},
        files={"video": ("clip.mp4", data, "video/mp4")}, timeout=TIMEOUT_S,
    )  # fmt: skip
    r.raise_for_status()
    return time.perf_counter() - start, r.json()


def post_frames(url: str, frames: list[bytes]) -> tuple[float, list[dict]]:
    """All frames at once, one thread each, as independent POST /keypoints calls."""
    results: list[dict] = [{} for _ in frames]
    errors: list[Exception] = []

    def call(i: int) -> None:
        try:
            r = httpx.post(
                f"{url}/keypoints", files={"image": (f"{i}.jpg", frames[i], "image/jpeg")},
                timeout=TIMEOUT_S,
            )  # fmt: skip
            r.raise_for_status()
            results[i] = r.json()
        except Exception as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    start = time.perf_counter()
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(frames))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=Path("../shared/data/posetrack-clip"))
    parser.add_argument(
        "--model", type=Path,
        help="served model (default: a random-weight ResNet-18 96x64; its keypoints score too "
        "low to make flow boxes, so give a trained or demo model for realistic tracking)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="video_throughput_") as work:
        measure(args, Path(work))


def measure(args: argparse.Namespace, work: Path) -> None:
    video = next(args.clip.glob("*.mp4")).read_bytes()
    frames = [p.read_bytes() for p in sorted(args.clip.glob("*.jpg"))]
    model = args.model or small_checkpoint(work)
    env = {"SIMPLEPOSE_DETECTOR": "hog", "SIMPLEPOSE_OFFLINE": "1"}
    times: dict[str, list[float]] = {"video_1": [], "video_5": [], "calls": []}
    with ServiceProcess(model, work / "service.log", [], env) as svc:
        # warm-up: every path once (compiles shapes, fills caches)
        post_video(svc.url, video, 1)
        post_frames(svc.url, frames)
        for _ in range(args.rounds):
            seconds, body1 = post_video(svc.url, video, 1)
            times["video_1"].append(seconds)
            seconds, body5 = post_video(svc.url, video, 5)
            times["video_5"].append(seconds)
            seconds, calls = post_frames(svc.url, frames)
            times["calls"].append(seconds)
    n = len(frames)
    fps = {k: n / statistics.median(v) for k, v in times.items()}
    persons = {
        "video_1": sum(len(f["persons"]) for f in body1["frames"]),
        "video_5": sum(len(f["persons"]) for f in body5["frames"]),
        "calls": sum(len(c["persons"]) for c in calls),
    }
    for key, label in (("video_1", "POST /keypoints/video, detect every frame"),
                       ("video_5", "POST /keypoints/video, detect every 5th"),
                       ("calls", f"{n} independent POST /keypoints calls at once")):  # fmt: skip
        print(
            f"{label:45s} {fps[key]:6.2f} frames/s  ({persons[key]} persons in {n} frames, "
            f"{fps[key] / fps['calls']:.2f}x the independent calls)"
        )
    print(json.dumps({
        "video_detect_every_1_fps": round(fps["video_1"], 3),
        "video_detect_every_5_fps": round(fps["video_5"], 3),
        "independent_calls_fps": round(fps["calls"], 3),
        "ratio_video_1": round(fps["video_1"] / fps["calls"], 3),
        "ratio_video_5": round(fps["video_5"] / fps["calls"], 3),
        "persons": persons, "frames": n, "rounds": args.rounds, "model": str(args.model or "random-weight ResNet-18 96x64"),
        "tracks_detect_every_1": body1["tracks"], "tracks_detect_every_5": body5["tracks"],
        "machine": machine(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
