"""Inference worker threads per device, batching person crops across requests.

Requests ``submit`` their crops ``(n, 3, H, W)`` and get a ``concurrent.futures.Future`` for
their model outputs ``(n, ...)``. A free worker thread waits until ``max_batch`` crops are
queued or the oldest has waited ``max_wait_s``, runs the model once on up to ``max_batch`` crops
(taken in arrival order, a request's crops may span two calls), pads the call to an allowed batch
size when the model wants that, and routes each slice of the output back to its request.

``workers`` threads share the one queue: one per inference session of the model (its
``slots``, ``simplepose.runtime.threads``), so N sessions of T threads each run side by side.
MindSpore models have one session: MindSpore graphs must not run on two threads at once.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np


class QueueFull(RuntimeError):
    """More crops are waiting than the queue allows; the caller should retry later."""


class ExecutorClosed(RuntimeError):
    """The executor is shutting down and takes no new work."""


@dataclass(eq=False)
class _Job:
    crops: np.ndarray
    future: Future
    enqueued: float
    taken: int = 0  # crops handed to a model call so far
    parts: list[np.ndarray] = field(default_factory=list)
    received: int = 0

    @property
    def size(self) -> int:
        return len(self.crops)


@dataclass(frozen=True)
class BatchStats:
    size: int  # real crops in the call
    padded: int  # batch size actually run
    seconds: float


class BatchingExecutor:
    """Args:
    run: the model call, ``(N, 3, H, W)`` float32 -> ``(N, ...)``.
    max_batch: most crops per call.
    max_wait_s: how long the oldest queued crop waits for the batch to fill.
    max_queue: most crops waiting (not yet in a call); ``submit`` raises ``QueueFull`` beyond.
    batch_sizes: if given, each call is zero-padded up to the smallest of these sizes that fits
        (e.g. to reuse a few compiled shapes); must include ``max_batch``.
    on_batch / on_queue_depth: metric hooks, called from the worker / submitting threads.
    """

    def __init__(
        self,
        run: Callable[[np.ndarray], np.ndarray],
        max_batch: int,
        max_wait_s: float,
        max_queue: int,
        batch_sizes: Sequence[int] | None = None,
        on_batch: Callable[[BatchStats], None] | None = None,
        on_queue_depth: Callable[[int], None] | None = None,
        name: str = "inference",
        workers: int = 1,
    ):
        if max_batch < 1 or max_queue < 1 or max_wait_s < 0 or workers < 1:
            raise ValueError(
                f"need max_batch >= 1, max_queue >= 1, max_wait_s >= 0, workers >= 1; got "
                f"{max_batch}, {max_queue}, {max_wait_s}, {workers}"
            )
        self._sizes = sorted(set(batch_sizes)) if batch_sizes else None
        if self._sizes is not None and self._sizes[-1] != max_batch:
            raise ValueError(f"batch_sizes {self._sizes} must end with max_batch={max_batch}")
        self._run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._on_batch = on_batch
        self._on_depth = on_queue_depth
        self._jobs: deque[_Job] = deque()
        self._waiting = 0  # crops queued and not yet handed to a call
        self._cond = threading.Condition()
        self._closing = False
        self._threads = [
            threading.Thread(
                target=self._loop, name=name if workers == 1 else f"{name}-{i}", daemon=True
            )
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def queue_depth(self) -> int:
        return self._waiting

    def submit(self, crops: np.ndarray) -> Future:
        """Queue one request's crops; the future resolves to their outputs, in order."""
        future: Future = Future()
        if len(crops) == 0:
            raise ValueError("submit needs at least one crop")
        with self._cond:
            if self._closing:
                raise ExecutorClosed("the service is shutting down")
            # An oversized request is still accepted into an empty queue, so it can ever run.
            if self._waiting and self._waiting + len(crops) > self.max_queue:
                raise QueueFull(
                    f"{self._waiting} person crops are waiting (limit {self.max_queue})"
                )
            self._jobs.append(_Job(crops, future, time.monotonic()))
            self._waiting += len(crops)
            depth = self._waiting
            self._cond.notify()
        if self._on_depth:
            self._on_depth(depth)
        return future

    def close(self, timeout: float | None = None) -> bool:
        """Stop taking work, finish everything queued, join the threads. True if they finished."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _padded_size(self, n: int) -> int:
        if self._sizes is None:
            return n
        return self._sizes[bisect.bisect_left(self._sizes, n)]

    def _take(self) -> list[tuple[_Job, int, int]] | None:
        """Wait for work and cut the next batch: ``(job, start, stop)`` slices."""
        with self._cond:
            while True:
                while not self._jobs and not self._closing:
                    self._cond.wait()
                if not self._jobs:
                    return None
                head = self._jobs[0]
                deadline = head.enqueued + self.max_wait_s
                # Another worker may take the head meanwhile: then wait for the new one.
                while self._waiting < self.max_batch and not self._closing and head.taken == 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._jobs and (self._jobs[0] is head or self._waiting >= self.max_batch):
                    break
            pieces = []
            count = 0
            while self._jobs and count < self.max_batch:
                job = self._jobs[0]
                take = min(self.max_batch - count, job.size - job.taken)
                pieces.append((job, job.taken, job.taken + take))
                job.taken += take
                count += take
                if job.taken == job.size:
                    self._jobs.popleft()
            self._waiting -= count
            depth = self._waiting
            if self._jobs:  # left for another worker
                self._cond.notify()
        if self._on_depth:
            self._on_depth(depth)
        return pieces

    def _drop(self, jobs: set[_Job]) -> None:
        """Remove failed jobs whose remaining crops are still queued."""
        with self._cond:
            for job in jobs:
                if job in self._jobs:
                    self._jobs.remove(job)
                    self._waiting -= job.size - job.taken

    def _loop(self) -> None:
        while True:
            pieces = self._take()
            if pieces is None:
                return
            batch = np.concatenate([job.crops[a:b] for job, a, b in pieces])
            real = len(batch)
            padded = self._padded_size(real)
            if padded > real:
                pad = np.zeros((padded - real, *batch.shape[1:]), batch.dtype)
                batch = np.concatenate([batch, pad])
            start = time.perf_counter()
            try:
                out = self._run(batch)
            except Exception as exc:  # routed to every waiting request
                failed = {job for job, _, _ in pieces}
                self._drop(failed)
                for job in failed:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            if self._on_batch:
                self._on_batch(BatchStats(real, padded, time.perf_counter() - start))
            offset = 0
            for job, a, b in pieces:
                job.parts.append(out[offset : offset + (b - a)])
                offset += b - a
                job.received += b - a
                if job.received == job.size and not job.future.done():
                    result = job.parts[0] if len(job.parts) == 1 else np.concatenate(job.parts)
                    job.future.set_result(result)
