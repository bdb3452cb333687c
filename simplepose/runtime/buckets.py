"""Static-shape batch buckets: which exported batch size runs a call of ``n`` crops.

A bucketed model has one graph per batch size (e.g. 1, 2, 4, 8, 16). A call of ``n`` crops is
zero-padded up to the smallest bucket that holds it; above the largest it is split into full
largest-bucket calls and one remainder call. The service's batching executor and the models
themselves (for ``predict``/``evaluate``) both plan with these two functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16)
MAX_BUCKET = 256  # one exported graph per size; larger buckets only cost memory and export time


def check_batch_sizes(sizes: Iterable[int]) -> tuple[int, ...]:
    """Sorted unique bucket sizes; ``ValueError`` for an empty list or a size outside
    ``1..MAX_BUCKET``."""
    result = tuple(sorted(set(sizes)))
    if not result:
        raise ValueError("give at least one batch size")
    bad = [s for s in result if not 1 <= s <= MAX_BUCKET]
    if bad:
        raise ValueError(f"batch sizes must be within 1..{MAX_BUCKET}, got {bad}")
    return result


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """``"1,2,4,8,16"`` -> ``(1, 2, 4, 8, 16)``, with a message naming what is wrong."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"batch sizes must be comma-separated integers, got {text!r}") from None
    return check_batch_sizes(values)


def bucket_for(n: int, sizes: Sequence[int]) -> int:
    """The smallest bucket that holds ``n`` crops (``sizes`` sorted ascending)."""
    if n < 1:
        raise ValueError(f"a call needs at least one crop, got {n}")
    for size in sizes:
        if size >= n:
            return size
    raise ValueError(f"{n} crops exceed the largest bucket {sizes[-1]}; split with plan_calls")


def plan_calls(n: int, sizes: Sequence[int]) -> list[tuple[int, int]]:
    """How ``n`` crops run: a list of ``(real crops, bucket)`` calls, in order.

    >>> plan_calls(20, (1, 2, 4, 8, 16))
    [(16, 16), (4, 4)]
    """
    largest = sizes[-1]
    full, rest = divmod(n, largest)
    calls = [(largest, largest)] * full
    if rest:
        calls.append((rest, bucket_for(rest, sizes)))
    return calls
