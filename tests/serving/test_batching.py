"""The batching executor: cross-request batches, routing, padding, queue limit, errors, drain."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from simplepose.serving.batching import BatchingExecutor, BatchStats, ExecutorClosed, QueueFull


class Recorder:
    """Model stand-in: output = input * 2 (so routing errors show), remembers call sizes."""

    def __init__(self, gate: threading.Event | None = None):
        self.sizes: list[int] = []
        self.threads: set[str] = set()
        self.gate = gate

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait(10)
        self.sizes.append(len(batch))
        self.threads.add(threading.current_thread().name)
        return batch * 2


WAIT_TIMEOUT_S = 10.0


def wait_for(condition: Callable[[], bool], timeout_s: float = WAIT_TIMEOUT_S) -> None:
    """Poll ``condition`` until true; fail (not hang) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout_s} s"
        time.sleep(0.001)


def crops(n: int, start: float) -> np.ndarray:
    return (start + np.arange(n, dtype=np.float32)).reshape(n, 1, 1, 1)


def test_crops_of_several_requests_share_a_call_and_come_back_in_order() -> None:
    gate = threading.Event()
    model = Recorder(gate)
    ex = BatchingExecutor(model, max_batch=8, max_wait_s=0.5, max_queue=100)
    first = ex.submit(crops(1, 0))
    wait_for(lambda: ex.queue_depth == 0)  # the worker took it and waits at the gate
    futures = [ex.submit(crops(5, 100 * (i + 1))) for i in range(3)]  # 15 crops queue up
    gate.set()
    for i, f in enumerate(futures):
        np.testing.assert_array_equal(f.result(5), crops(5, 100 * (i + 1)) * 2)
    np.testing.assert_array_equal(first.result(5), crops(1, 0) * 2)
    assert model.sizes == [1, 8, 7]  # three requests in two calls; the second one split
    assert model.threads == {"inference"}
    ex.close()


def test_calls_are_padded_to_allowed_sizes() -> None:
    model = Recorder()
    stats: list[BatchStats] = []
    ex = BatchingExecutor(
        model, max_batch=8, max_wait_s=0.0, max_queue=100, batch_sizes=(1, 4, 8),
        on_batch=stats.append,
    )  # fmt: skip
    out = ex.submit(crops(3, 7)).result(5)
    np.testing.assert_array_equal(out, crops(3, 7) * 2)
    assert model.sizes == [4]
    assert (stats[0].size, stats[0].padded) == (3, 4)
    ex.close()


def test_queue_full_is_refused_and_recovers() -> None:
    gate = threading.Event()
    model = Recorder(gate)
    ex = BatchingExecutor(model, max_batch=2, max_wait_s=0.0, max_queue=3)
    running = ex.submit(crops(2, 0))
    wait_for(lambda: ex.queue_depth == 0)  # the worker took it (and blocks on the gate)
    queued = ex.submit(crops(3, 10))
    with pytest.raises(QueueFull):
        ex.submit(crops(1, 20))
    gate.set()
    assert running.result(5).shape == (2, 1, 1, 1)
    assert queued.result(5).shape == (3, 1, 1, 1)
    assert ex.submit(crops(1, 30)).result(5)[0, 0, 0, 0] == 60
    ex.close()


def test_model_errors_reach_every_request_of_the_batch_and_the_thread_survives() -> None:
    calls = []

    def flaky(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("device fell over")
        return batch

    ex = BatchingExecutor(flaky, max_batch=4, max_wait_s=0.0, max_queue=10)
    with pytest.raises(RuntimeError, match="device fell over"):
        ex.submit(crops(2, 0)).result(5)
    np.testing.assert_array_equal(ex.submit(crops(2, 5)).result(5), crops(2, 5))
    ex.close()


def test_close_finishes_queued_work_then_refuses_new() -> None:
    gate = threading.Event()
    ex = BatchingExecutor(Recorder(gate), max_batch=1, max_wait_s=0.0, max_queue=10)
    futures = [ex.submit(crops(1, i)) for i in range(3)]
    threading.Timer(0.2, gate.set).start()
    assert ex.close(timeout=10)
    assert [f.result(0)[0, 0, 0, 0] for f in futures] == [0, 2, 4]
    with pytest.raises(ExecutorClosed):
        ex.submit(crops(1, 0))


def test_batch_plan_per_model_kind() -> None:
    from types import SimpleNamespace

    from simplepose.serving.predictor import batch_plan

    def model(fmt: str, *sizes: int) -> SimpleNamespace:
        return SimpleNamespace(info=SimpleNamespace(format=fmt), batch_sizes=sizes or None)

    assert batch_plan(model("checkpoint"), 16) == (16, [1, 2, 4, 8, 16])  # compiled shapes
    assert batch_plan(model("checkpoint"), 12) == (12, [1, 2, 4, 8, 12])
    assert batch_plan(model("mindir"), 16) == (16, None)  # dynamic batch: any size
    assert batch_plan(model("onnx", 4), 10) == (8, None)  # multiples of the fixed batch
    assert batch_plan(model("onnx", 4), 2) == (4, None)
    buckets = model("onnx", 1, 2, 4, 8, 16)  # static-shape buckets: padded to one of them
    assert batch_plan(buckets, 16) == (16, [1, 2, 4, 8, 16])
    assert batch_plan(buckets, 12) == (8, [1, 2, 4, 8])
    assert batch_plan(model("mindir", 4, 8), 2) == (4, [4])


def test_service_executor_runs_5_crops_in_the_8_bucket_and_20_as_16_plus_4():
    calls: list[int] = []
    lock = threading.Lock()

    def run(batch):
        with lock:
            calls.append(len(batch))
        return batch[:, 0, 0, 0].copy()

    ex = BatchingExecutor(
        run, max_batch=16, max_wait_s=0.0, max_queue=64, batch_sizes=(1, 2, 4, 8, 16)
    )
    try:
        five = np.arange(5, dtype=np.float32)[:, None, None, None] * np.ones((1, 3, 2, 2))
        assert ex.submit(five.astype(np.float32)).result(10).tolist() == list(range(5))
        assert calls == [8]
        calls.clear()
        twenty = np.arange(20, dtype=np.float32)[:, None, None, None] * np.ones((1, 3, 2, 2))
        assert ex.submit(twenty.astype(np.float32)).result(10).tolist() == list(range(20))
        assert calls == [16, 4]
    finally:
        assert ex.close(timeout=10)


def test_workers_run_calls_side_by_side_and_every_crop_comes_back() -> None:
    """Two workers (two inference sessions): two calls are in the model at once, and 40
    requests of 1-3 crops all get their own outputs back."""
    inside, most, lock = [0], [0], threading.Lock()

    def run(batch: np.ndarray) -> np.ndarray:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.02)
        with lock:
            inside[0] -= 1
        return batch * 2

    ex = BatchingExecutor(run, max_batch=4, max_wait_s=0.001, max_queue=1000, workers=2)
    try:
        inputs = [np.full((1 + i % 3, 3, 2, 2), i, np.float32) for i in range(40)]
        futures = [ex.submit(x) for x in inputs]
        for x, f in zip(inputs, futures, strict=True):
            np.testing.assert_array_equal(f.result(WAIT_TIMEOUT_S), x * 2)
        assert most[0] == 2
    finally:
        assert ex.close(WAIT_TIMEOUT_S)
    with pytest.raises(ValueError, match="workers >= 1"):
        BatchingExecutor(run, max_batch=4, max_wait_s=0, max_queue=4, workers=0)
