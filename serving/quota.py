"""Per-caller budgets the routes spend as they learn a request's size (persons, frames).

The access middleware already took one token from the caller's request bucket; a route that
knows how many person crops (or video frames) a request carries spends them here before the
model runs, and the caller gets a 429 JSON error with ``Retry-After`` when they are not there.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from simplepose.serving.access import ANONYMOUS, CALLER_SCOPE_KEY, Caller, retry_after
from simplepose.serving.http_errors import ServiceError
from simplepose.serving.metrics import ServiceMetrics
from simplepose.serving.ratelimit import FRAMES, PERSONS, RateLimiter


class Quota:
    def __init__(self, limiter: RateLimiter, caller: Caller, metrics: ServiceMetrics):
        self.limiter = limiter
        self.caller = caller
        self.metrics = metrics

    def spend(self, kind: str, count: int) -> None:
        """Take ``count`` tokens of ``kind`` or raise the 429 ``ServiceError``."""
        wait = self.limiter.take(self.caller.bucket, kind, count)
        if wait == 0:
            return
        self.metrics.rate_limited.labels(self.caller.name, kind).inc()
        spec = self.limiter.specs[kind]
        if wait == float("inf"):
            raise ServiceError(
                429, "over_quota",
                f"{count} {kind} in one request is more than a caller may use at once "
                f"({spec.burst:g}); send fewer",
            )  # fmt: skip
        raise ServiceError(
            429, "rate_limited",
            f"more than {spec.rate:g} {kind}/s (burst {spec.burst:g}); retry later",
            {"Retry-After": retry_after(wait)},
        )  # fmt: skip

    def spend_persons(self, count: int) -> None:
        self.spend(PERSONS, count)

    def spend_frames(self, count: int) -> None:
        self.spend(FRAMES, count)


def quota_of(connection: HTTPConnection) -> Quota:
    """The quota of the caller the access middleware identified (HTTP or WebSocket)."""
    caller = connection.scope.get(CALLER_SCOPE_KEY)
    if caller is None:  # only on routes the middleware leaves open: meter by address
        client = connection.client
        caller = Caller(ANONYMOUS, f"addr:{client.host if client else 'unknown'}")
    state = connection.app.state
    return Quota(state.access.limiter, caller, state.metrics)
