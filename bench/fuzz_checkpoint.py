"""Bounded structure-aware fuzzer of the torch-free .pth reader (``export/pth_reader.py``).

Seeds: small but valid checkpoints in every layout (msra, mmpose0, mmpose1 with NumPy and
custom-class metadata, torchvision) and both formats (zip, legacy), written by torch in a
helper process, plus crafted honest files. Cases: mutations of the seeds (opcode-aware edits of
the pickle: integers set to edge values, globals swapped, opcodes deleted/duplicated/swapped;
zip members truncated, inflated, renamed or dropped; legacy storage counts changed; raw bit
flips and truncation) and generated opcode streams. Each case is read (``load_pth`` plus the
converter's ``unwrap_state_dict``) in a forked child under an address-space cap.

A crash is a child killed by a signal or over the time limit; an unmapped exception is anything
but ``CheckpointFormatError`` / ``LayoutError``. Last line: JSON
``{"cases", "crashes", "unmapped_exceptions", "max_rss_mb", "max_seconds", "max_file_bytes"}``.

    python bench/fuzz_checkpoint.py --cases 5000 --seed 1
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import pickletools
import random
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from _machine import machine

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
MB = 1 << 20
CASE_TIMEOUT_S = 20.0
GLOBALS = [("numpy", "ndarray"), ("posix", "system"), ("builtins", "eval"),
           ("torch", "FloatStorage"), ("torch", "LongStorage"), ("torch", "BFloat16Storage"),
           ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
           ("collections", "OrderedDict"), ("numpy", "dtype"), ("_codecs", "encode"),
           ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
           ("mmengine.logging", "MessageHub")]  # fmt: skip
EDGE_INTS = [-1, 0, 1, 2, 255, 2**31 - 1, -(2**31), 2**32, 2**40, 2**62, 2**63 - 1, 10**30]


def _crafted():
    spec = importlib.util.spec_from_file_location(
        "crafted_pth", REPO / "tests/export/crafted_pth.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


C = _crafted()


class MetaConfig:
    """A class the reader does not allow (as mmengine's Config): must become an inert record."""

    def __init__(self) -> None:
        self.text = "model = dict(type='TopdownPoseEstimator')"


def make_seeds(folder: Path) -> None:
    """Run with torch (a separate process, so the fuzzing parent stays small)."""
    import numpy as np
    import torch

    sys.path.insert(0, str(REPO / "tests" / "export"))
    import torch_reference as ref

    sd = ref.random_pose_net(18, deconv_channels=8, seed=0).state_dict()

    def shrink(obj):
        if isinstance(obj, torch.Tensor):
            flat = obj.flatten()[:6].clone()
            return flat.reshape(2, 3) if flat.numel() == 6 else flat
        if isinstance(obj, dict):
            return type(obj)((k, shrink(v)) for k, v in obj.items())
        return obj

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    extras = {"view": base.t(), "slice": base[1:3, 2:5], "half": base.half()[0],
              "bf16": base.bfloat16()[1], "flag": base[0] > 2, "long": torch.tensor([1, -2])}  # fmt: skip
    for layout in ("msra", "mmpose0", "mmpose1", "torchvision"):
        obj = shrink(ref.layout_state_dict_from(sd, layout, 512))
        if layout == "mmpose1":
            obj["meta"]["dataset_meta"] = {
                "sigmas": np.linspace(0.02, 0.1, 17, dtype=np.float32),
                "flip_indices": [0, 2, 1],
                "ap": np.float64(0.7),
            }
            obj["meta"]["cfg"] = MetaConfig()
        if layout == "msra":
            obj = dict(obj, **extras)
        for fmt in ("zip", "legacy"):
            torch.save(
                obj, folder / f"{layout}-{fmt}.pth", _use_new_zipfile_serialization=fmt == "zip"
            )


def _ops(pkl: bytes) -> list[tuple[str, object, int, int]]:
    """(name, arg, start, end) of every opcode; empty when the pickle does not parse."""
    try:
        ops = list(pickletools.genops(pkl))
    except Exception:  # noqa: BLE001 (a mutated pickle may not parse at all)
        return []
    ends = [pos for _, _, pos in ops[1:]] + [len(pkl)]
    return [(op.name, arg, pos, end) for (op, arg, pos), end in zip(ops, ends, strict=True)]


def mutate_pickle(pkl: bytes, rng: random.Random) -> bytes:
    ops = _ops(pkl)
    if not ops:
        return pkl
    for _ in range(rng.randint(1, 3)):
        name, arg, start, end = rng.choice(ops)
        kind = rng.randrange(6)
        if kind == 0 and isinstance(arg, int) and name != "PROTO":
            new = C.i(rng.choice(EDGE_INTS + [arg + rng.randint(-3, 3)]))
        elif kind == 1 and name == "GLOBAL":
            new = C.glob(*rng.choice(GLOBALS))
        elif kind == 2:
            new = b""  # delete the opcode
        elif kind == 3:
            new = pkl[start:end] * rng.randint(2, 50)  # repeat it
        elif kind == 4:
            other = rng.choice(ops)
            new = pkl[other[2] : other[3]]  # replace by another opcode
        else:
            new = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        pkl = pkl[:start] + new + pkl[end:]
        ops = _ops(pkl) or ops[:0]
        if not ops:
            break
    return pkl


def mutate_zip(data: bytes, rng: random.Random) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    kind = rng.randrange(5)
    with zipfile.ZipFile(out, "w") as dst:
        infos = src.infolist()
        victim = rng.choice(infos).filename
        for info in infos:
            raw = src.read(info)
            name = info.filename
            if name.endswith("data.pkl") and kind == 0:
                raw = mutate_pickle(raw, rng)
            elif name == victim and kind == 1:
                raw = raw[: rng.randrange(len(raw) + 1)]  # truncated member
            elif name == victim and kind == 2:
                continue  # dropped member
            elif name == victim and kind == 3:
                dst.writestr(name, raw + bytes(rng.choice([1, 4, 1 << 20, 50 << 20])),
                             zipfile.ZIP_DEFLATED)  # inflated member  # fmt: skip
                continue
            elif name == victim and kind == 4:
                name = name + rng.choice(["x", "/", ""]) if rng.random() < 0.5 else "data.pkl"
            dst.writestr(name, raw)
    return out.getvalue()


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    kind = rng.randrange(3)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:
        del data[rng.randrange(len(data)) :]
    else:  # legacy: a storage count (int64 after the key list) set to an edge value
        at = rng.randrange(max(1, len(data) - 8))
        data[at : at + 8] = struct.pack("<q", rng.choice([-1, 0, 2**40, 2**62, 7]))
    return bytes(data)


def generated(rng: random.Random) -> bytes:
    """A random opcode stream from a small grammar of what checkpoints use (and abuse)."""
    parts = [C.PROTO]
    for _ in range(rng.randint(1, 60)):
        k = rng.randrange(12)
        if k == 0:
            parts.append(C.i(rng.choice(EDGE_INTS)))
        elif k == 1:
            parts.append(C.uni(rng.choice(["storage", "0", "1", "cpu", "w", "O", "f4", "V8"])))
        elif k == 2:
            parts.append(C.glob(*rng.choice(GLOBALS)))
        elif k == 3:
            parts.append(b"(" * rng.randint(1, 300))
        elif k == 4:
            parts.append(
                rng.choice([b"t", b"l", b"d", b"\x85", b"\x86", b"\x87", b")", b"]", b"}"])
            )
        elif k == 5:
            parts.append(rng.choice([b"R", b"b", b"Q", b"\x81", b"a", b"e", b"s", b"u"]))
        elif k == 6:
            parts.append(b"r" + struct.pack("<I", rng.choice([0, 1, 5, 2**20, 2**32 - 1])))
        elif k == 7:
            parts.append(b"j" + struct.pack("<I", rng.choice([0, 1, 5, 2**31])))
        elif k == 8:
            parts.append(C.tensor(rng.choice("01"), rng.choice([0, 1, 6, 2**30]),
                                  tuple(rng.choice([0, 1, 2, 3, 2**20]) for _ in range(rng.randint(0, 3)))))  # fmt: skip
        elif k == 9:
            parts.append(b"\x85" * rng.randint(1, 5000))
        elif k == 10:
            parts.append(C.NONE)
        else:
            parts.append(b"0")  # POP
    parts.append(C.STOP)
    pkl = b"".join(parts)
    if rng.random() < 0.5:
        return C.zip_pth(pkl, {"0": C.floats(*range(6)), "1": C.floats(1, 2)})
    return C.legacy_pth(pkl, {"0": (6, C.floats(*range(6)))}) if rng.random() < 0.5 else pkl


def make_case(seeds: list[bytes], rng: random.Random) -> bytes:
    if rng.random() < 0.25:
        return generated(rng)
    seed = rng.choice(seeds)
    if seed[:2] == b"PK":
        return mutate_zip(seed, rng) if rng.random() < 0.7 else mutate_bytes(seed, rng)
    if rng.random() < 0.6:  # legacy: mutate one of its pickles in place
        return mutate_pickle(seed, rng)
    return mutate_bytes(seed, rng)


def _vm_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith(field)).split()[1])


def run_case(path: Path, cap_bytes: int) -> dict:
    """Fork; the child reads ``path`` under the cap and reports over a pipe."""
    read, write = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))
        from simplepose.export.layouts import LayoutError, unwrap_state_dict
        from simplepose.export.pth_reader import CheckpointFormatError, load_pth

        try:
            unwrap_state_dict(load_pth(path))
            outcome = "loaded"
        except (CheckpointFormatError, LayoutError):
            outcome = "refused"
        except BaseException as exc:  # noqa: BLE001 (what the fuzzer looks for)
            outcome = f"unmapped {type(exc).__name__}: {str(exc)[:200]}"
        usage = resource.getrusage(resource.RUSAGE_SELF)  # a forked child starts from zero
        report = {"outcome": outcome, "hwm_kb": _vm_kb("VmHWM"),
                  "cpu_seconds": usage.ru_utime + usage.ru_stime}  # fmt: skip
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    deadline = start + CASE_TIMEOUT_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = -1
            break
        time.sleep(0.002)
    seconds = time.perf_counter() - start
    with os.fdopen(read, "rb") as fh:
        raw = fh.read()
    if status != 0 or not raw:
        return {"outcome": "crash", "status": status, "seconds": seconds, "hwm_kb": 0,
                "cpu_seconds": 0.0}  # fmt: skip
    return {**json.loads(raw), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cap-mb", type=int, default=2048, help="address-space headroom per case")
    parser.add_argument("--make-seeds", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=Path, help="copy crashing/unmapped cases here")
    args = parser.parse_args()
    if args.make_seeds:
        make_seeds(args.make_seeds)
        return
    import simplepose.export.layouts  # noqa: F401  (imported once, before forking)
    import simplepose.export.pth_reader  # noqa: F401

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            subprocess.run(
                [sys.executable, __file__, "--make-seeds", str(folder)], check=True, timeout=600
            )
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"no torch seeds ({exc}); crafted seeds only", file=sys.stderr)
        seeds = [p.read_bytes() for p in sorted(folder.glob("*.pth"))]
        seeds += [C.honest(False), C.honest(True)]
        cap = _vm_kb("VmSize") * 1024 + args.cap_mb * MB
        stats = {"cases": 0, "crashes": 0, "unmapped_exceptions": 0, "max_rss_mb": 0.0,
                 "max_seconds": 0.0, "max_file_bytes": 0}  # fmt: skip
        outcomes: dict[str, int] = {}
        over_memory_goal, max_cpu, slowest = 0, 0.0, (0.0, "")
        case_path = folder / "case.pth"
        for n in range(args.cases):
            data = make_case(seeds, rng)
            case_path.write_bytes(data)
            report = run_case(case_path, cap)
            kind = report["outcome"].split(" ")[0]
            outcomes[kind] = outcomes.get(kind, 0) + 1
            rss_mb = report["hwm_kb"] / 1024
            over_memory_goal += rss_mb > 4 * len(data) / MB + 200
            stats["cases"] += 1
            stats["crashes"] += kind == "crash"
            stats["unmapped_exceptions"] += kind == "unmapped"
            stats["max_rss_mb"] = round(max(stats["max_rss_mb"], rss_mb), 1)
            stats["max_seconds"] = round(max(stats["max_seconds"], report["seconds"]), 3)
            stats["max_file_bytes"] = max(stats["max_file_bytes"], len(data))
            max_cpu = max(max_cpu, report["cpu_seconds"])
            slowest = max(slowest, (report["seconds"], f"case {n}: {len(data)} bytes, {kind}"))
            if kind in ("crash", "unmapped"):
                print(f"case {n}: {report}", file=sys.stderr)
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    (args.keep / f"case{n}.pth").write_bytes(data)
            if (n + 1) % 500 == 0:
                print(f"{n + 1} cases: {outcomes}", file=sys.stderr, flush=True)
    print(json.dumps({"outcomes": outcomes, "over_memory_goal": over_memory_goal,
                      "max_cpu_seconds": round(max_cpu, 3), "slowest": slowest[1],
                      "machine": machine()}))  # fmt: skip
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
