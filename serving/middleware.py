"""Pure ASGI middlewares: key-bearing query parameters redacted, the upload byte limit and
per-request metrics."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simplepose.serving.http_errors import ServiceError, error_response
from simplepose.serving.metrics import ServiceMetrics

# Multipart framing and the small form fields on top of the image itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# Query parameters that carry credentials by convention, and values that look like our keys.
KEY_PARAMETER = re.compile(
    r"(?i)(api[-_]?key|apikey|key|token|access[-_]?token|auth|authorization|password|secret)"
)
KEY_VALUE = re.compile(r"sp_[A-Za-z0-9_-]{8,}")
REDACTED = "REDACTED"


def redact_query(query: bytes) -> bytes:
    """``query`` with the value of every key-bearing parameter replaced by ``REDACTED``."""
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    if not any(KEY_PARAMETER.fullmatch(k) or KEY_VALUE.search(v) for k, v in pairs):
        return query
    return urlencode(
        [
            (k, REDACTED if KEY_PARAMETER.fullmatch(k) or KEY_VALUE.search(v) else v)
            for k, v in pairs
        ]
    ).encode("latin-1")


class RedactKeyQueryMiddleware:
    """Outermost: rewrites the scope's query string in place, so neither uvicorn's access log
    (it formats the path from this same scope when it logs) nor any route or log line sees a
    key sent as ``?api_key=``. Keys are never read from the query (docs/access.md)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string")
        if scope["type"] in ("http", "websocket") and query:
            scope["query_string"] = redact_query(query)
        await self.app(scope, receive, send)


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
