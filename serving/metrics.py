"""Prometheus metrics of one app, on its own registry (several apps in one process, e.g. in
tests, do not collide)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from simplepose.serving.batching import BatchStats

NAMESPACE = "simplepose"
STAGES = ("decode_image", "detect", "preprocess", "inference", "postprocess", "total")
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128)

__all__ = ["PROMETHEUS_CONTENT_TYPE", "ServiceMetrics"]


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "requests",
            "HTTP requests by route, method and status code",
            ["route", "method", "status"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "stage_seconds",
            "Latency of each stage of POST /keypoints (inference includes queueing)",
            ["stage"],
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        for stage in STAGES:  # every stage is exported (at 0) before the first request
            self.stage_seconds.labels(stage)
        self.persons = Histogram(
            "request_persons",
            "Person boxes per keypoint request",
            namespace=NAMESPACE,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "batch_size",
            "Real person crops per model call",
            namespace=NAMESPACE,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_padding = Counter(
            "batch_padding_crops",
            "Zero crops added to reach an allowed batch size",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.model_seconds = Histogram(
            "model_call_seconds",
            "Duration of one model call on the device",
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.detector_batch_size = Histogram(
            "detector_batch_size",
            "Images per person-detector call",
            namespace=NAMESPACE,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.detector_seconds = Histogram(
            "detector_call_seconds",
            "Duration of one person-detector call",
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "queue_depth",
            "Person crops waiting for the inference executor",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.ready = Gauge(
            "ready", "1 when the model is loaded and warmed up", namespace=NAMESPACE,
            registry=self.registry,
        )  # fmt: skip

        # Access control: labelled by key NAME (never the key); "anonymous" when auth is off.
        self.key_requests = Counter(
            "key_requests", "Requests let through the access check, by API key name", ["key"],
            namespace=NAMESPACE, registry=self.registry,
        )  # fmt: skip
        self.rate_limited = Counter(
            "rate_limited",
            "429 responses by API key name and limit (requests, persons, frames)",
            ["key", "limit"], namespace=NAMESPACE, registry=self.registry,
        )  # fmt: skip
        self.auth_failures = Counter(
            "auth_failures", "401 responses by reason (missing, invalid)", ["reason"],
            namespace=NAMESPACE, registry=self.registry,
        )  # fmt: skip

    def observe_batch(self, stats: BatchStats) -> None:
        self.batch_size.observe(stats.size)
        self.batch_padding.inc(stats.padded - stats.size)
        self.model_seconds.observe(stats.seconds)

    def observe_detector_batch(self, stats: BatchStats) -> None:
        self.detector_batch_size.observe(stats.size)
        self.detector_seconds.observe(stats.seconds)

    def observe_stages(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.stage_seconds.labels(stage).observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
