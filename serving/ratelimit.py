"""Token buckets per caller (API key name, or client address when auth is off).

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second; a request (or a
person crop, or a video frame) takes tokens or is refused with the time until they would be
there. The service keeps one bucket per caller and kind, for at most ``max_callers`` callers
(least recently seen forgotten first, so unauthenticated clients cannot grow memory).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Kinds of budget the service meters (settings.py has their rates and bursts).
REQUESTS = "requests"
PERSONS = "persons"
FRAMES = "frames"


@dataclass(frozen=True)
class BucketSpec:
    """``rate`` tokens per second, at most ``burst`` stored; rate 0 means no limit."""

    rate: float
    burst: float

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0


class RateLimiter:
    def __init__(
        self,
        specs: Mapping[str, BucketSpec],
        max_callers: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.specs = dict(specs)
        self.max_callers = max_callers
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, str], list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, caller: str, kind: str, count: float = 1.0) -> float:
        """Take ``count`` tokens: 0.0 when taken, else the seconds until they would be there
        (nothing taken; ``inf`` when ``count`` is more than the bucket can ever hold)."""
        spec = self.specs.get(kind)
        if spec is None or spec.unlimited or count <= 0:
            return 0.0
        if count > spec.burst:
            return math.inf
        now = self.clock()
        key = (caller, kind)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = [spec.burst, now]
                self._buckets[key] = bucket
                if len(self._buckets) > self.max_callers * len(self.specs):
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                tokens, stamp = bucket
                bucket[0] = min(spec.burst, tokens + (now - stamp) * spec.rate)
                bucket[1] = now
            if bucket[0] >= count:
                bucket[0] -= count
                return 0.0
            return (count - bucket[0]) / spec.rate
