"""The restricted unpickler behind ``export.pth_reader``: an opcode pre-scan, then unpickling in
which everything a pickle can reach is a fresh, frozen stand-in made for this one load.

Threat model (docs/threat-model.md): the bytes are written by an attacker. The pre-scan bounds
what the C unpickler will do before it runs (opcode count, argument sizes, big integers, memo
indices, nesting depth). Allow-listed globals resolve to per-load ``_Function`` objects that
accept only validated numbers; nothing can pass a buffer, an offset, strides or a dtype of its
choice to NumPy. Any other global becomes an inert record of its name: never imported, never
called, and refused wherever weights are expected.
"""

from __future__ import annotations

import collections
import pickle
from collections.abc import Callable
from typing import Any, BinaryIO, Literal

import numpy as np

from simplepose.export.pth_prescan import CheckpointFormatError, UnsafeCheckpointError, prescan

MAX_NDIM = 16
MAX_DIM = 1 << 40  # any size, stride or offset beyond this is not a real tensor
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
# a pickled dtype's byte order -> the one it is rebuilt with ("|": not applicable)
_BYTE_ORDERS: dict[str, Literal["<", ">", "="]] = {"<": "<", ">": ">", "|": "=", "=": "="}
NUMPY_DTYPES = frozenset(
    [
        "b1",
        "i1",
        "u1",
        "i2",
        "u2",
        "i4",
        "u4",
        "i8",
        "u8",
        "f2",
        "f4",
        "f8",
        "?",
        "b",
        "B",
        "h",
        "H",
        "i",
        "I",
        "l",
        "L",
        "q",
        "Q",
        "e",
        "f",
        "d",
    ]
)


class _Frozen:
    """Base of every object the pickle can reach: no attribute writes, no BUILD, unhashable (so
    never a dict key), never pickled back."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]

    def __setattr__(self, name: str, value: Any) -> None:
        raise CheckpointFormatError(f"refusing to set {name!r} on {type(self).__name__}")

    def __setstate__(self, state: Any) -> None:
        raise CheckpointFormatError(f"refusing BUILD on {type(self).__name__}")

    def __reduce__(self) -> Any:
        raise TypeError(f"{type(self).__name__} is not picklable")

    def _init(self, **fields: Any) -> None:
        for key, value in fields.items():
            object.__setattr__(self, key, value)


class _Function(_Frozen):
    __slots__ = ("name", "fn")
    name: str
    fn: Callable[..., Any]

    def __init__(self, name: str, fn: Callable[..., Any]):
        self._init(name=name, fn=fn)

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


class StorageType(_Frozen):
    __slots__ = ("name", "dtype")
    name: str
    dtype: np.dtype

    def __init__(self, name: str):
        self._init(name=name, dtype=STORAGE_DTYPES[name])


class Storage(_Frozen):
    """A storage's elements: a read-only little-endian array, or ``None`` while only sizes are
    known (the legacy format's first pass)."""

    __slots__ = ("kind", "numel", "data")
    kind: StorageType
    numel: int
    data: np.ndarray | None

    def __init__(self, kind: StorageType, numel: int, data: np.ndarray | None):
        self._init(kind=kind, numel=numel, data=data)


class Tensor(_Frozen):
    __slots__ = ("array",)
    array: np.ndarray | None

    def __init__(self, array: np.ndarray | None):
        self._init(array=array)


class DType(_Frozen):
    """A validated NumPy dtype; accepts the one BUILD NumPy writes (its byte order)."""

    __slots__ = ("dtype", "built")
    dtype: np.dtype
    built: bool

    def __init__(self, dtype: np.dtype):
        self._init(dtype=dtype, built=False)

    def __setstate__(self, state: Any) -> None:
        plain = (None, None, None, -1, -1)
        if self.built or not isinstance(state, tuple) or len(state) not in (8, 9):
            raise CheckpointFormatError("unexpected NumPy dtype state")
        order = _BYTE_ORDERS.get(state[1]) if isinstance(state[1], str) else None
        if state[2:7] != plain or order is None:
            raise CheckpointFormatError("refusing a structured/sub-array NumPy dtype")
        self._init(dtype=self.dtype.newbyteorder(order), built=True)


class Scalar(_Frozen):
    __slots__ = ("value",)
    value: Any

    def __init__(self, value: Any):
        self._init(value=value)


class ArrayBuilder(_Frozen):
    """``numpy.core.multiarray._reconstruct``'s result: filled by exactly one checked BUILD."""

    __slots__ = ("array",)
    array: np.ndarray | None

    def __init__(self) -> None:
        self._init(array=None)

    def __setstate__(self, state: Any) -> None:
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise CheckpointFormatError("unexpected NumPy array state")
        shape, dtype, fortran, raw = state[-4:]
        dims = check_dims(shape, "array shape")
        if not isinstance(dtype, DType) or not isinstance(raw, bytes):
            raise UnsafeCheckpointError("NumPy array without a plain dtype and raw bytes")
        numel = int(np.prod(dims, dtype=np.int64)) if dims else 1
        if numel * dtype.dtype.itemsize != len(raw):
            raise CheckpointFormatError(f"NumPy array {dims} does not match its {len(raw)} bytes")
        array = np.frombuffer(raw, dtype.dtype).reshape(dims, order="F" if fortran else "C")
        self._init(array=array)


class InertRecord(_Frozen):
    """An object of a class outside the allow-list: only its name and the plain data it was
    given are kept. Nothing of it was imported or called."""

    __slots__ = ("args", "state")
    args: tuple[Any, ...]
    state: Any
    global_name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> InertRecord:
        obj = object.__new__(cls)
        object.__setattr__(obj, "args", (*args, *kwargs.items()))
        object.__setattr__(obj, "state", None)
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        if self.state is not None:
            raise CheckpointFormatError(f"second BUILD on {self.global_name}")
        self._init(state=state)

    def __repr__(self) -> str:
        return f"<inert {self.global_name}>"


def is_inert(value: Any) -> bool:
    """An inert record, or the record class a bare global reference resolved to."""
    return isinstance(value, InertRecord) or (
        isinstance(value, type) and issubclass(value, InertRecord)
    )


def check_dims(values: Any, what: str) -> tuple[int, ...]:
    """A tuple of small non-negative ints (sizes, strides), checked before any arithmetic."""
    if not isinstance(values, tuple) or len(values) > MAX_NDIM:
        raise CheckpointFormatError(f"{what} is not a tuple of at most {MAX_NDIM} ints")
    if not all(type(v) is int and 0 <= v < MAX_DIM for v in values):
        raise CheckpointFormatError(f"{what} holds values outside [0, 2^40)")
    return values


def _ordered_dict(*args: Any) -> collections.OrderedDict:
    if args:
        raise CheckpointFormatError("OrderedDict with constructor arguments")
    return collections.OrderedDict()


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """How protocol-2 pickles store ``bytes``; only the codecs pickle itself uses."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafeCheckpointError("refusing _codecs.encode outside latin-1/utf-8 text")
    return text.encode(encoding)


def _numpy_dtype(name: Any, *flags: Any) -> DType:
    if not isinstance(name, str) or name.lstrip("<>|=") not in NUMPY_DTYPES:
        raise UnsafeCheckpointError(f"refusing NumPy dtype {str(name)[:40]!r} (only numbers)")
    if not all(isinstance(f, bool) for f in flags) or len(flags) > 2:
        raise CheckpointFormatError("unexpected NumPy dtype arguments")
    return DType(np.dtype(name))


def _numpy_scalar(dtype: Any, data: Any = b"") -> Scalar:
    if not isinstance(dtype, DType) or not isinstance(data, bytes):
        raise UnsafeCheckpointError("refusing a NumPy scalar without a plain dtype and bytes")
    if len(data) != dtype.dtype.itemsize:
        raise CheckpointFormatError("NumPy scalar with the wrong number of bytes")
    return Scalar(np.frombuffer(data, dtype.dtype, count=1)[0])


TENSOR_REBUILDERS = ("_rebuild_tensor_v2", "_rebuild_tensor")
PARAMETER_REBUILDERS = ("_rebuild_parameter", "_rebuild_parameter_with_state")


def _parameter(data: Any, *_: Any) -> Tensor:
    if not isinstance(data, Tensor):
        raise CheckpointFormatError("parameter without a tensor")
    return data


class Globals:
    """The allow-list, instantiated per load: fresh stand-ins, so nothing one file does can
    change how the next one loads."""

    def __init__(self, rebuild_tensor: Callable[..., Tensor]):
        self.ndarray = _Function("numpy.ndarray", _not_callable)
        reconstruct = _Function("numpy._reconstruct", self._reconstruct)
        scalar = _Function("numpy.scalar", _numpy_scalar)
        table: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): _Function("OrderedDict", _ordered_dict),
            ("_codecs", "encode"): _Function("_codecs.encode", _codecs_encode),
            ("numpy", "dtype"): _Function("numpy.dtype", _numpy_dtype),
            ("numpy", "ndarray"): self.ndarray,
        }
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            table[(module, "_reconstruct")] = reconstruct
            table[(module, "scalar")] = scalar
        rebuild = _Function("torch._rebuild_tensor", rebuild_tensor)
        table.update({("torch._utils", n): rebuild for n in TENSOR_REBUILDERS})
        parameter = _Function("torch._rebuild_parameter", _parameter)
        table.update({("torch._utils", n): parameter for n in PARAMETER_REBUILDERS})
        table.update({("torch", n): StorageType(n) for n in STORAGE_DTYPES})
        self.table = table
        self.inert: dict[tuple[str, str], type[InertRecord]] = {}

    def _reconstruct(self, cls: Any, *_: Any) -> ArrayBuilder:
        if cls is not self.ndarray:
            raise UnsafeCheckpointError("refusing a NumPy array subclass")
        return ArrayBuilder()

    def find(self, module: str, name: str) -> Any:
        key = (str(module)[:200], str(name)[:200])
        if key in self.table:
            return self.table[key]
        if key not in self.inert:
            attrs = {"__slots__": (), "global_name": f"{key[0]}.{key[1]}"}
            self.inert[key] = type("InertRecord", (InertRecord,), attrs)
        return self.inert[key]


def _not_callable(*_: Any) -> Any:
    raise UnsafeCheckpointError("refusing to call numpy.ndarray (buffers, offsets, strides)")


class SafeUnpickler(pickle.Unpickler):
    """Unpickle one stream (from its position, pre-scanned first) with per-load ``Globals``
    and a storage loader."""

    def __init__(self, stream: BinaryIO, found: Globals, load_storage: Callable[..., Storage]):
        start = stream.tell()
        self.end = prescan(stream)
        stream.seek(start)
        super().__init__(stream)
        self._stream = stream
        self._globals = found
        self._load_storage = load_storage
        self._storages: dict[str, Storage] = {}

    def load(self) -> Any:
        obj = super().load()
        self._stream.seek(self.end)
        return obj

    def find_class(self, module: str, name: str) -> Any:
        return self._globals.find(module, name)

    def persistent_load(self, pid: Any) -> Storage:
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise CheckpointFormatError("unknown persistent id")
        if len(pid) == 6 and pid[5] is not None:
            raise CheckpointFormatError("storage views (legacy view_metadata) are not supported")
        kind, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(kind, StorageType) or kind is not self._globals.table.get(
            ("torch", getattr(kind, "name", ""))
        ):
            raise CheckpointFormatError("persistent id without a torch storage type")
        if not (isinstance(key, str) and 0 < len(key) <= 64 and key.isalnum()):
            raise CheckpointFormatError("storage key is not a short alphanumeric string")
        if type(numel) is not int or not 0 <= numel < MAX_DIM:
            raise CheckpointFormatError("storage size outside [0, 2^40)")
        if key not in self._storages:
            self._storages[key] = self._load_storage(kind, key, numel)
        storage = self._storages[key]
        if storage.kind is not kind or storage.numel != numel:
            raise CheckpointFormatError(f"storage {key} is declared twice differently")
        return storage
