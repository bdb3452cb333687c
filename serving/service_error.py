"""The error the service's request path raises, without FastAPI (``http_errors`` turns it into
the JSON response), so offline commands can share the request parsers (``boxes``)."""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    """A request the service refuses: HTTP ``status``, stable ``code``, human ``message``."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
