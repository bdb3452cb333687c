"""Pre-scan of a pickle's opcodes before the C unpickler runs them (``export.pth_pickle``).

Bounds what unpickling may do, from the bytes alone: opcode count and pickle size, big
integers, memo indices, nesting depth (simulated on a stack of depths, so a 100k-deep tuple
used as a dict key is refused before anything hashes it) and opcodes a checkpoint never uses.
"""

from __future__ import annotations

import pickletools
from typing import BinaryIO

MAX_PICKLE_BYTES = 64 << 20  # a ResNet-152 data.pkl is ~100 kB
MAX_OPS = 1_000_000  # opcodes in one pickle (a state dict needs ~15 a tensor)
MAX_MEMO = 1_000_000  # highest memo index
MAX_DEPTH = 100  # nesting of containers and calls
MAX_INT_BYTES = 16  # LONG1 payloads (the legacy magic number needs 10)
_SCALAR_OPS = frozenset(
    [
        "NONE",
        "NEWTRUE",
        "NEWFALSE",
        "INT",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG",
        "LONG1",
        "LONG4",
        "FLOAT",
        "BINFLOAT",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "UNICODE",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
        "BYTEARRAY8",
        "GLOBAL",
        "PERSID",
    ]
)
_NOOP_OPS = frozenset(("PROTO", "FRAME", "STOP"))
_FROM_MARK = frozenset(("TUPLE", "LIST", "DICT", "FROZENSET", "OBJ", "INST"))
_INTO_TOP = {"APPENDS": None, "SETITEMS": None, "ADDITEMS": None, "APPEND": 1, "SETITEM": 2}
_POP_PUSH = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3, "REDUCE": 2, "NEWOBJ": 2, "NEWOBJ_EX": 3,
             "STACK_GLOBAL": 2, "BINPERSID": 1}  # fmt: skip


class CheckpointFormatError(ValueError):
    """The file is not a PyTorch checkpoint this reader understands, is corrupt, or asks for
    more than its size justifies."""


class UnsafeCheckpointError(CheckpointFormatError):
    """The pickle needs a global outside the allow-list where weights are expected: refused."""


def _int(arg: object) -> int:
    """An opcode's integer argument (pickletools types every argument as optional)."""
    if not isinstance(arg, int):
        raise CheckpointFormatError(f"opcode argument {str(arg)[:40]!r} is not an integer")
    return arg


def prescan(stream: BinaryIO) -> int:
    """Walk the opcodes from the stream's position without running them; returns where the
    pickle ends (the stream is left there). Raises ``CheckpointFormatError`` for streams past
    the limits above or malformed ones."""
    start = stream.tell()
    stack: list[int] = []  # nesting depth of each stack item
    marks: list[int] = []
    memo: dict[int, int] = {}
    end = 0
    try:
        for count, (op, arg, pos) in enumerate(pickletools.genops(stream), 1):
            assert pos is not None  # genops reports positions when the stream has tell()
            if count > MAX_OPS or pos - start > MAX_PICKLE_BYTES:
                raise CheckpointFormatError(
                    f"pickle over {MAX_OPS} opcodes or {MAX_PICKLE_BYTES} bytes"
                )
            name = op.name
            if name in _SCALAR_OPS:
                bits = abs(_int(arg)).bit_length() if name in ("LONG", "LONG1", "LONG4") else 0
                if bits > 8 * MAX_INT_BYTES:
                    raise CheckpointFormatError(f"integer of {bits} bits")
                stack.append(0)
            elif name in _NOOP_OPS:
                end = pos + 1 if name == "STOP" else 0
            elif name in ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_TUPLE", "EMPTY_SET"):
                stack.append(1)
            elif name == "MARK":
                marks.append(len(stack))
            elif name in _FROM_MARK or name == "POP_MARK":
                bottom = marks.pop()
                items, stack[bottom:] = stack[bottom:], []
                if name != "POP_MARK":
                    stack.append(1 + max(items, default=0))
            elif name in _INTO_TOP:
                n = _INTO_TOP[name]
                bottom = marks.pop() if n is None else len(stack) - n
                items, stack[bottom:] = stack[bottom:], []
                stack[-1] = max(stack[-1], 1 + max(items, default=0))
            elif name in _POP_PUSH:
                items, stack[-_POP_PUSH[name] :] = stack[-_POP_PUSH[name] :], []
                if len(items) != _POP_PUSH[name]:
                    raise IndexError
                stack.append(max(items) + (name not in ("STACK_GLOBAL", "BINPERSID")))
            elif name == "BUILD":
                state = stack.pop()
                stack[-1] = max(stack[-1], 1 + state)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                index = len(memo) if name == "MEMOIZE" else _int(arg)
                if index >= MAX_MEMO:
                    raise CheckpointFormatError(f"memo index {index} (limit {MAX_MEMO})")
                memo[index] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[_int(arg)])
            elif name == "POP":
                if marks and marks[-1] == len(stack):
                    marks.pop()
                else:
                    stack.pop()
            elif name == "DUP":
                stack.append(stack[-1])
            else:  # EXT*, out-of-band buffers: never in a checkpoint
                raise CheckpointFormatError(f"unsupported pickle opcode {name}")
            if stack and stack[-1] > MAX_DEPTH:
                raise CheckpointFormatError(f"nesting deeper than {MAX_DEPTH}")
            if end:
                stream.seek(end)
                return end
    except (IndexError, KeyError) as exc:
        raise CheckpointFormatError(f"malformed pickle ({type(exc).__name__})") from None
    except ValueError as exc:
        if isinstance(exc, CheckpointFormatError):
            raise
        raise CheckpointFormatError(f"malformed pickle: {str(exc)[:200]}") from None
    raise CheckpointFormatError("pickle without a STOP opcode")
