"""Read PyTorch ``.pth``/``.pt`` checkpoints into NumPy arrays without importing torch.

A checkpoint is a pickle; unpickling normally runs whatever callables the file names. This
reader (``export.pth_pickle``) pre-scans the opcodes, resolves only an allow-list of globals to
fresh per-load stand-ins (tensor rebuilders, storage types, ``OrderedDict``, plain NumPy
values) and turns every other global into an inert record of its name, which is refused
wherever weights are expected. Sizes are checked before anything is allocated: tensor geometry
against its storage, storages against the zip member or legacy stream that holds them, and the
total of tensor bytes against the file size. Every failure is a ``CheckpointFormatError`` (or
its subclass ``UnsafeCheckpointError``) naming the file. See docs/threat-model.md.

Both container formats are read: the zip format (``torch.save`` since 1.6: ``*/data.pkl`` plus
one raw file per storage under ``*/data/``) and the legacy stream (magic number, protocol,
sys info, the pickle, the list of storage keys, then each storage's bytes).
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from simplepose.export.pth_pickle import (
    MAX_DIM,
    ArrayBuilder,
    CheckpointFormatError,
    DType,
    Globals,
    InertRecord,
    SafeUnpickler,
    Scalar,
    Storage,
    StorageType,
    Tensor,
    UnsafeCheckpointError,
    check_dims,
    is_inert,
)
from simplepose.export.pth_prescan import MAX_DEPTH, MAX_PICKLE_BYTES

__all__ = ["CheckpointFormatError", "InertRecord", "UnsafeCheckpointError", "is_inert", "load_pth"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
BUDGET_PER_FILE_BYTE = 2  # bytes of tensors (and of unzipped members) per byte of file
BUDGET_SLACK = 64 << 20
MAX_MEMBERS = 1 << 20


class _Budget:
    """Bytes left to hand out; checked before the allocation it pays for."""

    def __init__(self, file_bytes: int, what: str):
        self.left = BUDGET_PER_FILE_BYTE * file_bytes + BUDGET_SLACK
        self.what = what

    def take(self, nbytes: int) -> None:
        if nbytes > self.left:
            raise CheckpointFormatError(
                f"{self.what} would exceed {BUDGET_PER_FILE_BYTE}x the file size (+64 MB)"
            )
        self.left -= nbytes


def _tensor_rebuilder(budget: _Budget) -> Callable[..., Tensor]:
    def rebuild(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> Tensor:
        """``torch._utils._rebuild_tensor_v2``: a strided view of a storage, bounds-checked."""
        if not isinstance(storage, Storage):
            raise CheckpointFormatError("tensor without a storage")
        size, stride = check_dims(size, "tensor size"), check_dims(stride, "tensor stride")
        if type(offset) is not int or not 0 <= offset < MAX_DIM or len(size) != len(stride):
            raise CheckpointFormatError(f"bad tensor geometry: {len(size)}-d, offset {offset}")
        numel = math.prod(size)
        wide = storage.kind.name == "BFloat16Storage"
        out_dtype = np.dtype(np.float32) if wide else storage.kind.dtype
        budget.take(numel * out_dtype.itemsize)
        if (
            numel
            and offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
            >= storage.numel
        ):
            raise CheckpointFormatError(
                f"tensor {size} at offset {offset} reads past its storage ({storage.numel})"
            )
        if storage.data is None:  # the legacy format's first pass: sizes only
            return Tensor(None)
        if numel == 0:
            return Tensor(np.zeros(size, out_dtype))
        flat = storage.data
        view = np.lib.stride_tricks.as_strided(
            flat[offset:],
            shape=size,
            strides=[s * flat.itemsize for s in stride],
            writeable=False,
        )
        if wide:  # bfloat16 = the top 16 bits of a float32
            return Tensor((view.astype(np.uint32) << 16).view(np.float32))
        contiguous = stride == tuple(math.prod(size[i + 1 :]) for i in range(len(size)))
        return Tensor(view if contiguous else np.array(view))

    return rebuild


def _read_zip(path: Path, file_bytes: int) -> Any:
    unzipped = _Budget(file_bytes, "unzipped members")
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise CheckpointFormatError(f"zip with {len(infos)} members")
        members = {info.filename: info for info in infos}
        pickles = [name for name in members if name.endswith("data.pkl")]
        if len(pickles) != 1:
            raise CheckpointFormatError(f"expected one data.pkl in the zip, got {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]

        def read(name: str, expected: int | None = None) -> bytes:
            info = members[name]
            if expected is not None and info.file_size != expected:
                raise CheckpointFormatError(
                    f"zip member {name[:80]} holds {info.file_size} bytes, {expected} declared"
                )
            unzipped.take(info.file_size)  # before reading: zip bombs stop here
            raw = archive.read(info)
            if len(raw) != info.file_size:
                raise CheckpointFormatError(f"zip member {name[:80]} is truncated")
            return raw

        byteorder = prefix + "byteorder"
        if byteorder in members and (
            members[byteorder].file_size > 16 or read(byteorder).strip() not in (b"little", b"")
        ):
            raise CheckpointFormatError("big-endian checkpoints are not supported")
        if members[pickles[0]].file_size > MAX_PICKLE_BYTES:
            raise CheckpointFormatError(f"data.pkl is over {MAX_PICKLE_BYTES} bytes")

        def load_storage(kind: StorageType, key: str, numel: int) -> Storage:
            name = f"{prefix}data/{key}"
            if name not in members:
                raise CheckpointFormatError(f"storage {key} is missing")
            raw = read(name, numel * kind.dtype.itemsize)
            return Storage(kind, numel, np.frombuffer(raw, kind.dtype))

        found = Globals(_tensor_rebuilder(_Budget(file_bytes, "tensors")))
        return SafeUnpickler(io.BytesIO(read(pickles[0])), found, load_storage).load()


def _small_pickle(stream: BinaryIO) -> Any:
    return SafeUnpickler(stream, Globals(_no_tensor), _no_storage).load()


def _read_legacy(path: Path, file_bytes: int) -> Any:
    """The pre-1.6 stream, read into memory once. Storage bytes follow the pickle, so the pickle
    is unpickled twice: first for the storages' types and sizes (nothing allocated), then with
    read-only views of the storages' bytes."""
    data = path.read_bytes()
    stream = io.BytesIO(data)
    if _small_pickle(stream) != LEGACY_MAGIC:
        raise CheckpointFormatError("not a PyTorch checkpoint (zip or legacy)")
    if _small_pickle(stream) != LEGACY_PROTOCOL:
        raise CheckpointFormatError("unsupported legacy protocol")
    _small_pickle(stream)  # sys_info: endianness and type sizes
    start = stream.tell()
    kinds: dict[str, tuple[StorageType, int]] = {}

    def find_storage(kind: StorageType, key: str, numel: int) -> Storage:
        kinds[key] = (kind, numel)
        return Storage(kind, numel, None)

    sizes_only = Globals(_tensor_rebuilder(_Budget(file_bytes, "tensors")))
    SafeUnpickler(stream, sizes_only, find_storage).load()
    keys = _small_pickle(stream)
    if not isinstance(keys, list) or len(keys) > len(kinds):
        raise CheckpointFormatError("bad storage key list")
    storages: dict[str, np.ndarray] = {}
    pos = stream.tell()
    for key in keys:
        if not isinstance(key, str) or key not in kinds or key in storages:
            raise CheckpointFormatError("storage key list names an unused or repeated storage")
        kind, numel = kinds[key]
        (count,) = struct.unpack_from("<q", data, pos)
        nbytes = numel * kind.dtype.itemsize
        if count != numel or pos + 8 + nbytes > len(data):
            raise CheckpointFormatError(f"storage {key} is truncated or mis-sized")
        storages[key] = np.frombuffer(data, kind.dtype, numel, pos + 8)
        pos += 8 + nbytes

    def load_storage(kind: StorageType, key: str, numel: int) -> Storage:
        if key not in storages or (kind.name, numel) != (kinds[key][0].name, kinds[key][1]):
            raise CheckpointFormatError(f"storage {key} is missing")
        return Storage(kind, numel, storages[key])

    stream.seek(start)
    found = Globals(_tensor_rebuilder(_Budget(file_bytes, "tensors")))
    return SafeUnpickler(stream, found, load_storage).load()


def _no_storage(kind: StorageType, key: str, numel: int) -> Storage:
    raise CheckpointFormatError("storage reference outside the checkpoint's main pickle")


def _no_tensor(*_: Any) -> Tensor:
    raise CheckpointFormatError("tensor outside the checkpoint's main pickle")


def _plain(value: Any) -> Any:
    """A stand-in's value for the caller (arrays, NumPy scalars and dtypes)."""
    if isinstance(value, Tensor | ArrayBuilder):
        if value.array is None:
            raise CheckpointFormatError("NumPy array without its data")
        return value.array
    if isinstance(value, Scalar):
        return value.value
    if isinstance(value, DType):
        return value.dtype
    return value


def _replace_children(obj: Any, done: dict[int, Any]) -> Any:
    def new(value: Any) -> Any:
        return (
            done.get(id(value), value) if isinstance(value, dict | list | tuple) else _plain(value)
        )

    if isinstance(obj, dict):
        for key, value in obj.items():
            obj[key] = new(value)
        return obj
    if isinstance(obj, list):
        obj[:] = [new(v) for v in obj]
        return obj
    return tuple(new(v) for v in obj)


def _finalize(root: Any) -> Any:
    """Replace stand-ins by plain values in nested dicts, lists and tuples, iteratively
    (post-order, cycles tolerated); inert records are left as they are."""
    containers = (dict, list, tuple)
    if not isinstance(root, containers):
        return _plain(root)
    done: dict[int, Any] = {}
    entered: set[int] = set()
    keep: list[Any] = []  # originals stay alive so ids are not reused
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        obj, leaving = stack.pop()
        if leaving:
            done[id(obj)] = _replace_children(obj, done)
            continue
        if id(obj) in entered:
            continue
        entered.add(id(obj))
        keep.append(obj)
        stack.append((obj, True))
        children = obj.values() if isinstance(obj, dict) else obj
        stack.extend((c, False) for c in children if isinstance(c, containers))
    return done.get(id(root), _plain(root))


def load_pth(path: str | Path) -> Any:
    """Unpickle a PyTorch checkpoint safely; tensors come back as NumPy arrays (read-only
    where they are plain views of the file's bytes), objects of other classes as inert
    ``InertRecord`` s.

    Raises ``FileNotFoundError`` or ``CheckpointFormatError`` (``UnsafeCheckpointError`` when
    the file's top-level object is not plain data), always naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        size = path.stat().st_size
        obj = _read_zip(path, size) if zipfile.is_zipfile(path) else _read_legacy(path, size)
        obj = _finalize(obj)
    except CheckpointFormatError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except Exception as exc:  # MemoryError, RecursionError, zip/struct errors...
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise CheckpointFormatError(
            f"{path}: not a readable PyTorch checkpoint ({reason})"
        ) from None
    if is_inert(obj):
        raise UnsafeCheckpointError(f"{path}: {refusal(obj)}")
    return obj


def refusal(record: InertRecord | type[InertRecord]) -> str:
    return (
        f"refusing to load global '{record.global_name}': a weights file needs only tensors "
        "and plain containers, and unpickling anything else could run code"
    )


def state_dict_arrays(obj: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Flatten nested mappings of arrays into ``{"a.b.c": array}`` (non-arrays dropped; at
    most ``MAX_DEPTH`` levels, iteratively)."""
    out: dict[str, np.ndarray] = {}
    stack: list[tuple[Any, str, int]] = [(obj, prefix, 0)]
    while stack:
        node, name, depth = stack.pop()
        if isinstance(node, np.ndarray):
            out[name[:-1]] = node
        elif isinstance(node, Mapping) and depth < MAX_DEPTH:
            stack.extend((v, f"{name}{k}.", depth + 1) for k, v in reversed(list(node.items())))
    return out
