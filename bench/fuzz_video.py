"""Fuzz ``POST /keypoints/video`` and the ``/keypoints/stream`` WebSocket with mutated
containers (every accepted one), mutated frames, hostile text messages and the descriptors that
make FFmpeg reach the network or the disk (SDP, RTSP, HLS, DASH, ffconcat, concat:, tee...),
while watching the service process for every socket and file it opens.

    python bench/fuzz_video.py --cases 2000
    python bench/fuzz_video.py --cases 40 --flood-messages 2 --flood-mb 1    # smoke size

The service is ``simplepose serve`` in its own process (random-weight R18 96x64, no detector),
run under ``strace -f`` (socket/bind/connect/open calls, when strace exists) and polled with
psutil (its connections and open files every 20 ms). A real JPEG "canary" file outside any
upload is what the ffconcat/concat/file descriptors name. Then ten 10 MB WebSocket messages are
sent while ``/healthz`` is timed. Last line: JSON (5xx, seconds, RSS, sockets, files, flood,
machine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402
from _service import ServiceProcess, small_checkpoint  # noqa: E402
from _video_cases import build  # noqa: E402

MB = 1 << 20
TRACED = "socket,bind,connect,open,openat,creat"
FLOOD_GAP_S = 0.2


def _allowed(path: str, upload_dir: str) -> bool:
    """The upload's own spool file, or the interpreter and libraries reading their files."""
    return path.startswith((upload_dir, sys.prefix)) or path.endswith((".py", ".pyc"))


class Watch:
    """Polls the service's connections, open files and RSS in a thread."""

    def __init__(self, proc: psutil.Process, port: int):
        self.proc, self.port = proc, port
        self.files0 = {f.path for f in proc.open_files()}
        self.sockets0 = {self._name(c) for c in proc.net_connections(kind="all")}
        self.sockets: set[str] = set()
        self.files: set[str] = set()
        self.rss0 = self.rss_max = proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _name(c) -> str:
        return f"fd {c.fd} {c.family.name} {c.type.name} {c.laddr} -> {c.raddr}"

    def _run(self) -> None:
        upload_dir = tempfile.gettempdir()
        while not self._stop.wait(0.02):
            try:
                for c in self.proc.net_connections(kind="all"):
                    served = self.port in (c.laddr[1:2] or (0,)) + (c.raddr[1:2] or (0,))
                    if not served and self._name(c) not in self.sockets0:
                        self.sockets.add(self._name(c))
                for f in self.proc.open_files():
                    if f.path not in self.files0 and not _allowed(f.path, upload_dir):
                        self.files.add(f.path)
                self.rss_max = max(self.rss_max, self.proc.memory_info().rss)
            except psutil.Error:
                return

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _cpu(proc: psutil.Process) -> float:
    """CPU seconds the service process has used (all its threads)."""
    times = proc.cpu_times()
    return times.user + times.system


def _stop(proc: psutil.Process) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except psutil.TimeoutExpired:
        proc.kill()


def strace_findings(log: Path, since: float, canary: str) -> dict:
    """Sockets made and files opened after ``since`` (epoch s), from ``strace -f -ttt``."""
    sockets, files, libraries, imports = [], [], set(), 0
    upload_dir, prefix = tempfile.gettempdir(), sys.prefix
    for line in log.read_text(errors="replace").splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[1].replace(".", "").isdigit() or float(parts[1]) < since:
            continue
        call = parts[2]
        if call.startswith(("socket(", "bind(", "connect(")) and "= -1" not in call:
            sockets.append(call[:160])
        elif call.startswith(("open(", "openat(", "creat(")) and '"' in call:
            path = call.split('"')[1]
            if path.startswith(upload_dir) or path in ("/dev/urandom", "/dev/null"):
                continue
            if path.startswith((prefix, "/proc/self/", "/sys/")) or path.endswith((".py", ".pyc")):
                imports += 1  # the interpreter and libraries reading their own files
                continue
            if path.startswith(("/usr/lib/", "/lib/")) and path.endswith(".so"):
                libraries.add(path)  # e.g. glibc's iconv modules, loaded by FFmpeg for DVB text
                continue
            files.append(path)
    return {"sockets": sockets[:20], "socket_calls": len(sockets), "files": sorted(set(files))[:20],
            "file_opens": len(files), "canary_opened": files.count(canary),
            "library_file_opens": imports, "system_libraries_loaded": sorted(libraries)}  # fmt: skip


def run_case(client: httpx.Client, ws_url: str, state: dict, case: tuple) -> tuple[str, bool]:
    """Send one case; (outcome, server_error) where outcome is a status or a stream answer."""
    transport, _, payload = case
    if transport == "http":
        files = {"video": ("clip.bin", payload, "application/octet-stream")}
        try:
            r = client.post("/keypoints/video", files=files)
        except httpx.TimeoutException:
            return "timeout", True
        return str(r.status_code), r.status_code >= 500
    for _attempt in range(2):
        if state.get("ws") is None:
            state["stack"] = ExitStack()
            state["ws"] = state["stack"].enter_context(
                connect(ws_url, max_size=None, ping_interval=None)  # no client-side timeouts
            )
            state["ws"].recv(timeout=30)  # hello
        ws = state["ws"]
        try:
            ws.send(payload if transport == "ws" else payload.decode("utf-8", errors="replace"))
            answer = json.loads(ws.recv(timeout=60))
            return f"ws:{answer.get('code') or answer['type']}", False
        except TimeoutError:
            state.pop("stack").close()
            state["ws"] = None
            return "ws:timeout", True
        except ConnectionClosed as exc:
            state.pop("stack").close()
            state["ws"] = None
            code = exc.rcvd.code if exc.rcvd else 1006
            if code == 1011 or _attempt == 1:
                return f"ws_close:{code}", code in (1006, 1011)
    return "ws:unreachable", True


def flood(base: str, ws_url: str, messages: int, size: int) -> dict:
    """/healthz latency alone, then while ``messages`` WebSocket messages of ``size`` bytes
    (text and binary in turn) are sent and answered."""

    def healthz_times(until) -> list[float]:
        times = []
        with httpx.Client(base_url=base, timeout=30) as c:
            while until(len(times)):
                start = time.perf_counter()
                c.get("/healthz")
                times.append(time.perf_counter() - start)
                time.sleep(0.005)
        return times

    def pct(values: list[float], q: float) -> float:
        return round(float(np.percentile(values, q)) * 1000, 2) if values else 0.0

    alone = healthz_times(lambda n: n < 200)
    answers: list[str] = []
    done = threading.Event()

    def sender() -> None:
        """One message per connection: the answer is an error message, or a close (1009 when
        the server refuses to read a message over its limit)."""
        for i in range(messages):
            try:
                with connect(ws_url, max_size=None) as ws:
                    ws.recv(timeout=30)
                    ws.send("x" * size if i % 2 == 0 else b"\xff\xd8" + bytes(size - 2))
                    answers.append(json.loads(ws.recv(timeout=120)).get("code", ""))
            except ConnectionClosed as exc:
                answers.append(f"close:{exc.rcvd.code if exc.rcvd else 1006}")
            time.sleep(FLOOD_GAP_S)  # spread out, so /healthz is sampled around every message
        done.set()

    thread = threading.Thread(target=sender, daemon=True)
    start = time.perf_counter()
    thread.start()
    during = healthz_times(lambda n: not done.is_set())
    thread.join()
    return {"messages": messages, "mb_each": round(size / MB, 2), "answers": dict(Counter(answers)),
            "seconds": round(time.perf_counter() - start, 2),
            "healthz_alone_ms": {"p50": pct(alone, 50), "p99": pct(alone, 99)},
            "healthz_during_ms": {"n": len(during), "p50": pct(during, 50), "p99": pct(during, 99),
                                  "max": pct(during, 100)}}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simplepose-bench"))
    parser.add_argument("--model", type=Path, help="default: a random-weight R18 96x64")
    parser.add_argument("--max-frames", type=int, default=30, help="SIMPLEPOSE_VIDEO_MAX_FRAMES")
    parser.add_argument("--flood-messages", type=int, default=10)
    parser.add_argument("--flood-mb", type=float, default=10.0)
    parser.add_argument("--no-strace", action="store_true", help="psutil polling only")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    canary = args.workdir / "canary.jpg"
    cv2.imwrite(str(canary), np.full((48, 64, 3), 128, np.uint8))
    cases = build(args.cases, args.seed, str(canary.resolve()), args.max_frames)
    model = args.model or small_checkpoint(args.workdir)
    env = {"SIMPLEPOSE_DETECTOR": "none", "SIMPLEPOSE_VIDEO_MAX_FRAMES": str(args.max_frames),
           "SIMPLEPOSE_VIDEO_MAX_BYTES": str(2 * MB), "SIMPLEPOSE_STREAM_MAX_FPS": "1000",
           "SIMPLEPOSE_RATE_LIMIT_RPS": "0", "SIMPLEPOSE_RATE_LIMIT_FRAMES_PER_S": "0",
           "SIMPLEPOSE_RATE_LIMIT_PERSONS_PER_S": "0"}  # fmt: skip
    service = ServiceProcess(model, args.workdir / "fuzz_video.log", [], env)
    trace = args.workdir / "fuzz_video.strace"
    use_strace = not args.no_strace and shutil.which("strace") is not None
    if use_strace:
        service.cmd = ["strace", "-f", "-qq", "--seccomp-bpf", "-ttt", "-e", f"trace={TRACED}",
                       "-o", str(trace), *service.cmd]  # fmt: skip
    outcomes: Counter = Counter()
    errors: list[str] = []
    slowest = busiest = (0.0, "")
    ws_url = service.url.replace("http", "ws", 1) + "/keypoints/stream"
    with service, httpx.Client(base_url=service.url, timeout=60) as client:
        root = psutil.Process(service.pid)
        proc = root.children(recursive=True)[0] if use_strace else root
        state: dict = {}
        try:
            for case in [c for c in cases if c[1].startswith("honest")][:3]:  # warm-up
                run_case(client, ws_url, state, case)
            since = time.time()
            with Watch(proc, service.port) as watch:
                for case in cases:
                    start, cpu = time.perf_counter(), _cpu(proc)
                    outcome, server_error = run_case(client, ws_url, state, case)
                    took = time.perf_counter() - start
                    outcomes[f"{case[0]} {outcome}"] += 1
                    slowest = max(slowest, (took, f"{case[1]} -> {outcome}"))
                    busiest = max(busiest, (_cpu(proc) - cpu, f"{case[1]} -> {outcome}"))
                    if server_error:
                        errors.append(f"{case[1]} -> {outcome}")
                        (args.workdir / f"error_{len(errors)}.bin").write_bytes(case[2])
                flood_result = flood(service.url, ws_url, args.flood_messages,
                                     int(args.flood_mb * MB))  # fmt: skip
            if state.get("ws") is not None:
                state["stack"].close()
            alive = proc.is_running()
        finally:
            if use_strace:  # stop the service before strace: without its tracer, the traced
                _stop(proc)  # calls of a seccomp-filtered process fail and it cannot exit
    traced = strace_findings(trace, since, str(canary.resolve())) if use_strace else None
    log_text = service.log_path.read_text(errors="replace")
    result = {
        "cases": len(cases), "seed": args.seed, "server_errors_5xx": len(errors),
        "server_error_cases": errors[:20], "outcomes": dict(sorted(outcomes.items())),
        "max_seconds_per_case": round(slowest[0], 3), "slowest_case": slowest[1],
        "max_service_cpu_seconds_per_case": round(busiest[0], 3), "busiest_case": busiest[1],
        "rss_mb_start": round(watch.rss0 / MB, 1), "rss_mb_max": round(watch.rss_max / MB, 1),
        "rss_growth_mb": round((watch.rss_max - watch.rss0) / MB, 1),
        "sockets_opened_psutil": sorted(watch.sockets), "files_outside_upload_psutil":
        sorted(watch.files), "strace": traced, "tracebacks_in_log": log_text.count("Traceback"),
        "service_alive": alive, "flood": flood_result, "machine": machine(),
    }  # fmt: skip
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
