"""Read PyTorch ``.pth``/``.pt`` checkpoints into NumPy arrays without importing torch.

A checkpoint is a pickle; unpickling normally runs whatever callables the file names, so this
reader resolves only an allow-list of globals (tensor rebuilders, storage types, ``OrderedDict``
and a few plain-value constructors, each replaced by our own NumPy implementation) and refuses
everything else with ``UnsafeCheckpointError``: a malicious ``__reduce__`` cannot run code.

Both container formats are read: the zip format (``torch.save`` since 1.6: ``*/data.pkl`` plus
one raw file per storage under ``*/data/``) and the legacy stream (magic number, protocol,
sys info, the pickle, the list of storage keys, then each storage's bytes).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
# torch storage class name -> NumPy dtype of its elements (bfloat16 is widened on read).
STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
SAFE_NUMPY_DTYPES = (
    frozenset("?bBhHiIlLqQefdg")
    | {"b1", "i1", "u1", "i2", "u2", "i4", "u4"}
    | {
        "i8",
        "u8",
        "f2",
        "f4",
        "f8",
    }
)


class UnsafeCheckpointError(ValueError):
    """The pickle names a global outside the allow-list (it could run code): refused."""


class CheckpointFormatError(ValueError):
    """The file is not a PyTorch checkpoint this reader understands, or is corrupt."""


class _StorageType:
    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    """A storage's elements as a flat NumPy array (little-endian, as torch writes them)."""

    def __init__(self, data: np.ndarray, type_name: str):
        self.data = data
        self.type_name = type_name


def _as_array(storage: _Storage) -> np.ndarray:
    data = storage.data
    if storage.type_name == "BFloat16Storage":  # bfloat16 = the top 16 bits of a float32
        data = (data.astype(np.uint32) << 16).view(np.float32)
    return data


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any
) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2``: a strided view of a storage, copied, bounds-checked."""
    if not isinstance(storage, _Storage):
        raise CheckpointFormatError(f"tensor without a storage: {type(storage).__name__}")
    flat = _as_array(storage)
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    offset = int(offset)
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size + stride):
        raise CheckpointFormatError(f"bad tensor geometry: size {size} stride {stride}")
    if 0 in size:
        return np.zeros(size, flat.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= flat.size:
        raise CheckpointFormatError(
            f"tensor {size} at offset {offset} reads past its storage ({flat.size} elements)"
        )
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=size, strides=[s * flat.itemsize for s in stride], writeable=False
    )
    return np.array(view, dtype=flat.dtype.newbyteorder("="))


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


def _ordered_dict(*args: Any) -> collections.OrderedDict:
    if args:
        raise CheckpointFormatError("OrderedDict with constructor arguments")
    return collections.OrderedDict()


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    """How protocol-2 pickles store ``bytes``; only the codecs pickle itself uses."""
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafeCheckpointError(f"refusing codec {encoding!r} in _codecs.encode")
    return text.encode(encoding)


def _numpy_dtype(name: Any, *_: Any) -> np.dtype:
    if not isinstance(name, str) or name.lstrip("<>|=") not in SAFE_NUMPY_DTYPES:
        raise UnsafeCheckpointError(f"refusing NumPy dtype {name!r} (only plain numbers)")
    return np.dtype(name)


def _numpy_scalar(dtype: np.dtype, data: bytes = b"") -> Any:
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf":
        raise UnsafeCheckpointError(f"refusing NumPy scalar of dtype {dtype!r}")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise UnsafeCheckpointError(f"refusing NumPy array subclass {cls!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


_NUMPY_MULTIARRAY = {"_reconstruct": _numpy_reconstruct, "scalar": _numpy_scalar}
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): _ordered_dict,
    ("_codecs", "encode"): _codecs_encode,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): np.ndarray,
    **{("numpy.core.multiarray", k): v for k, v in _NUMPY_MULTIARRAY.items()},
    **{("numpy._core.multiarray", k): v for k, v in _NUMPY_MULTIARRAY.items()},
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, load_storage: Callable[[_StorageType, str, int], _Storage]):
        super().__init__(file)
        self._load_storage = load_storage
        self._storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"refusing to load global '{module}.{name}': a weights file needs only tensors "
                "and plain containers, and unpickling anything else could run code"
            ) from None

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointFormatError(f"unknown persistent id {pid!r:.80}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise CheckpointFormatError(f"unknown storage type {storage_type!r:.80}")
        if key not in self._storages:
            self._storages[key] = self._load_storage(storage_type, key, numel)
        return self._storages[key]


def _read_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl")]
        if len(pickles) != 1:
            raise CheckpointFormatError(f"{path}: expected one data.pkl in the zip, got {pickles}")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in names and archive.read(byteorder).strip() not in (b"little", b""):
            raise CheckpointFormatError(f"{path}: big-endian checkpoints are not supported")

        def load_storage(kind: _StorageType, key: str, numel: int) -> _Storage:
            try:
                raw = archive.read(f"{prefix}data/{key}")
            except KeyError:
                raise CheckpointFormatError(f"{path}: storage {key} is missing") from None
            if len(raw) < numel * kind.dtype.itemsize:
                raise CheckpointFormatError(f"{path}: storage {key} is truncated")
            return _Storage(np.frombuffer(raw, kind.dtype, count=numel), kind.name)

        return _SafeUnpickler(io.BytesIO(archive.read(pickles[0])), load_storage).load()


def _read_legacy(path: Path) -> Any:
    """The pre-1.6 stream. Storage bytes follow the pickle, so it is read twice: once to find
    the storages (placeholders), then again with the storages filled in."""
    with open(path, "rb") as fh:
        header = _SafeUnpickler(fh, _no_storage)
        if header.load() != LEGACY_MAGIC:
            raise CheckpointFormatError(f"{path}: not a PyTorch checkpoint (zip or legacy)")
        if header.load() != LEGACY_PROTOCOL:
            raise CheckpointFormatError(f"{path}: unsupported legacy protocol")
        header.load()  # sys_info: endianness and type sizes
        pickle_start = fh.tell()
        kinds: dict[str, tuple[_StorageType, int]] = {}

        def find_storage(kind: _StorageType, key: str, numel: int) -> _Storage:
            kinds[key] = (kind, numel)
            return _Storage(np.zeros(numel, kind.dtype), kind.name)

        _SafeUnpickler(fh, find_storage).load()
        storages: dict[str, _Storage] = {}
        for key in _SafeUnpickler(fh, _no_storage).load():
            if key not in kinds:
                raise CheckpointFormatError(f"{path}: storage {key} is not used by the pickle")
            kind, numel = kinds[key]
            (count,) = struct.unpack("<q", fh.read(8))
            raw = fh.read(count * kind.dtype.itemsize)
            if count != numel or len(raw) != numel * kind.dtype.itemsize:
                raise CheckpointFormatError(f"{path}: storage {key} is truncated")
            storages[key] = _Storage(np.frombuffer(raw, kind.dtype), kind.name)

        def load_storage(kind: _StorageType, key: str, numel: int) -> _Storage:
            if key not in storages:
                raise CheckpointFormatError(f"{path}: storage {key} is missing")
            return storages[key]

        fh.seek(pickle_start)
        return _SafeUnpickler(fh, load_storage).load()


def _no_storage(kind: _StorageType, key: str, numel: int) -> _Storage:
    raise CheckpointFormatError("storage reference outside the checkpoint's main pickle")


def load_pth(path: str | Path) -> Any:
    """Unpickle a PyTorch checkpoint safely; tensors come back as NumPy arrays.

    Raises ``FileNotFoundError``, ``UnsafeCheckpointError`` (a disallowed global) or
    ``CheckpointFormatError`` (not a checkpoint, truncated, inconsistent).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        return _read_legacy(path)
    except (UnsafeCheckpointError, CheckpointFormatError):
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile) as exc:
        raise CheckpointFormatError(f"{path}: not a readable PyTorch checkpoint: {exc}") from exc
    except (TypeError, AttributeError, IndexError, KeyError, ValueError) as exc:
        raise CheckpointFormatError(f"{path}: corrupt or unsupported checkpoint: {exc}") from exc


def state_dict_arrays(obj: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Flatten nested mappings of arrays into ``{"a.b.c": array}`` (non-arrays dropped)."""
    out: dict[str, np.ndarray] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.update(state_dict_arrays(value, f"{prefix}{key}."))
    elif isinstance(obj, np.ndarray):
        out[prefix[:-1]] = obj
    return out
