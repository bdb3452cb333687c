"""Pure ASGI middlewares: the upload byte limit and per-request metrics."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simplepose.serving.http_errors import ServiceError, error_response
from simplepose.serving.metrics import ServiceMetrics

# Multipart framing and the small form fields on top of the image itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class UploadLimitMiddleware:
    """413 for request bodies over ``max_bytes`` (+ multipart overhead), or over the limit of
    their path in ``path_limits``: from Content-Length before reading anything, and by counting
    for chunked uploads without one."""

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: Mapping[str, int] | None = None):
        self.app = app
        self.limit = max_bytes + MULTIPART_OVERHEAD_BYTES
        self.path_limits = {
            path: n + MULTIPART_OVERHEAD_BYTES for path, n in (path_limits or {}).items()
        }

    def _error(self, size: str, limit: int) -> ServiceError:
        return ServiceError(
            413, "upload_too_large", f"request body is {size}; the limit is {limit} bytes"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope.get("path", ""), self.limit)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            err = self._error(f"{int(length)} bytes", limit)
            await error_response(err.status, err.code, err.message)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise self._error(f"more than {limit} bytes", limit)
            return message

        await self.app(scope, counted, send)


class MetricsMiddleware:
    """Counts every response by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(path, scope.get("method", ""), str(status)).inc()
