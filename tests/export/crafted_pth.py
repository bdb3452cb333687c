"""Build PyTorch checkpoints byte by byte (no torch): a small pickle-opcode assembler plus the
zip and legacy containers. Used by the hostile-input tests and ``bench/fuzz_checkpoint.py``.

Opcodes are protocol 2, as ``torch.save`` writes them; values are ``bytes`` fragments that
push one object each, so they compose: ``tup(i(1), uni("a"))`` pushes ``(1, "a")``.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections.abc import Iterable

PROTO = b"\x80\x02"
STOP = b"."
MARK = b"("
NONE = b"N"
FALSE = b"\x89"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
SYS_INFO = {"protocol_version": 1001, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}  # fmt: skip


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def uni(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def i(value: int) -> bytes:
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    if len(raw) < 256:
        return b"\x8a" + bytes([len(raw)]) + raw  # LONG1
    return b"\x8b" + struct.pack("<I", len(raw)) + raw  # LONG4


def tup(*items: bytes) -> bytes:
    return MARK + b"".join(items) + b"t"


def call(func: bytes, *args: bytes) -> bytes:
    return func + tup(*args) + b"R"  # REDUCE


def dict_(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    return b"}" + MARK + b"".join(k + v for k, v in pairs) + b"u"


def persid(key: str, numel: int, storage: str = "FloatStorage", legacy: bool = False) -> bytes:
    view = NONE if legacy else b""
    return tup(uni("storage"), glob("torch", storage), uni(key), uni("cpu"), i(numel), view) + b"Q"


def tensor(
    key: str,
    numel: int,
    size: tuple[int, ...],
    stride: tuple[int, ...] | None = None,
    offset: int = 0,
    storage: str = "FloatStorage",
    legacy: bool = False,
) -> bytes:
    """``_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())``."""
    if stride is None:
        stride = tuple(_prod(size[k + 1 :]) for k in range(len(size)))
    return call(
        glob("torch._utils", "_rebuild_tensor_v2"),
        persid(key, numel, storage, legacy),
        i(offset),
        tup(*map(i, size)),
        tup(*map(i, stride)),
        FALSE,
        call(glob("collections", "OrderedDict")),
    )


def _prod(values: tuple[int, ...]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def pickle_of(body: bytes) -> bytes:
    return PROTO + body + STOP


def state_dict(tensors: dict[str, bytes]) -> bytes:
    return dict_((uni(name), op) for name, op in tensors.items())


def zip_pth(pkl: bytes, storages: dict[str, bytes], deflate: bool = False) -> bytes:
    out = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", method) as archive:
        archive.writestr("archive/data.pkl", pkl)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for key, raw in storages.items():
            archive.writestr(f"archive/data/{key}", raw)
    return out.getvalue()


def legacy_pth(pkl: bytes, storages: dict[str, tuple[int, bytes]]) -> bytes:
    """``storages``: key -> (element count, raw bytes)."""
    head = b"".join(pickle.dumps(v, protocol=2) for v in (LEGACY_MAGIC, 1001, SYS_INFO))
    keys = pickle.dumps(list(storages), protocol=2)
    body = b"".join(struct.pack("<q", n) + raw for n, raw in storages.values())
    return head + pkl + keys + body


def floats(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def honest(legacy: bool = False) -> bytes:
    """A two-tensor state dict: ``w`` = [[0, 1, 2], [3, 4, 5]], ``b`` = [7, 8]."""
    sd = state_dict(
        {"w": tensor("0", 6, (2, 3), legacy=legacy), "b": tensor("1", 2, (2,), legacy=legacy)}
    )
    data = {"0": floats(0, 1, 2, 3, 4, 5), "1": floats(7, 8)}
    if legacy:
        return legacy_pth(pickle_of(sd), {k: (len(v) // 4, v) for k, v in data.items()})
    return zip_pth(pickle_of(sd), data)


CHILD = """
import json, os, resource, sys, time
cap = int(sys.argv[2]) << 20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from simplepose.export.pth_reader import CheckpointFormatError, load_pth
start = time.perf_counter()
try:
    load_pth(sys.argv[1])
    outcome, message = "loaded", ""
except CheckpointFormatError as exc:
    outcome, message = "refused", str(exc)
except BaseException as exc:
    outcome, message = "unmapped", f"{type(exc).__name__}: {exc}"
seconds = time.perf_counter() - start
# VmHWM: this interpreter's peak RSS (ru_maxrss would include the forking parent's)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"outcome": outcome, "message": message[:1000], "seconds": seconds,
                  "max_rss_mb": int(hwm) / 1024}))
"""


def load_in_child(path: str, mem_cap_mb: int = 3072, timeout: float = 120) -> dict:
    """Run ``load_pth(path)`` in a fresh interpreter under an address-space cap. Returns its
    JSON report, with ``returncode``; a crash (signal) leaves ``outcome`` = "crash"."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(mem_cap_mb)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if proc.returncode == 0 and lines else {"outcome": "crash"}
    return {**report, "returncode": proc.returncode, "stderr": proc.stderr[-2000:]}
