"""Every error the service returns is JSON ``{"error": {"code": ..., "message": ...}}``.

``ServiceError`` is raised by the request path; the handlers installed by
``install_error_handlers`` also translate FastAPI's validation errors, Starlette's HTTP errors
(404, 405, ...) and anything unexpected, so a client never sees another error shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from simplepose.serving.service_error import ServiceError

__all__ = ["ServiceError", "error_body", "error_response", "install_error_handlers"]

log = logging.getLogger(__name__)

# Error codes for HTTP statuses raised by Starlette itself (routing, method, ...).
STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "unavailable",
}


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=dict(headers or {}))


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(422, "validation_error", _validation_message(exc))


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    cause = exc.__cause__
    if isinstance(cause, ServiceError):  # e.g. the upload limit hit while FastAPI read the form
        return error_response(cause.status, cause.code, cause.message, cause.headers)
    code = STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, code, str(exc.detail), exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", f"{type(exc).__name__}: the server failed")


def install_error_handlers(app: FastAPI) -> None:
    # The decorator form type-checks handlers of Exception subclasses; add_exception_handler
    # types every handler as taking any Exception (Kludex/starlette#2417).
    app.exception_handler(ServiceError)(_service_error)
    app.exception_handler(RequestValidationError)(_validation_error)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(Exception)(_unexpected)
