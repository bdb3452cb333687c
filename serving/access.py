"""Access control: API keys, per-caller rate limits, CORS, and the routes open without a key.

``install_access`` puts one ASGI middleware in front of every route, HTTP and WebSocket alike,
so a route added later is protected without doing anything: only the paths listed here (and
in ``open_paths``) are reachable without a key. docs/access.md describes it for users.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from simplepose.serving.http_errors import error_body, error_response
from simplepose.serving.keyfile import KeyFileError, KeyStore, read_keyfile
from simplepose.serving.metrics import ServiceMetrics
from simplepose.serving.page import PAGE_PREFIX
from simplepose.serving.ratelimit import FRAMES, PERSONS, REQUESTS, BucketSpec, RateLimiter
from simplepose.serving.settings import Settings

log = logging.getLogger(__name__)

PROBE_PATHS = ("/healthz", "/readyz")  # liveness/readiness probes carry no key
PAGE_PATHS = ("/",)  # the web page: static files, no data; it asks for a key on 401
PAGE_PREFIXES = (PAGE_PREFIX + "/",)  # its files
METRICS_PATH = "/metrics"
ERROR_SCHEMA_REF = "#/components/schemas/ErrorResponse"  # serving.schemas.ErrorResponse
RATE_LIMITED_TEXT = "the caller's request, person or frame budget is spent (see Retry-After)"
UNAUTHORIZED_TEXT = "no key, or a wrong or revoked one"
REALM = "simplepose"
# WebSocket clients in browsers cannot set headers: they offer two subprotocols,
# [WS_SUBPROTOCOL, WS_KEY_PROTOCOL_PREFIX + key]; the route accepts with WS_SUBPROTOCOL.
WS_SUBPROTOCOL = "simplepose.v1"
WS_KEY_PROTOCOL_PREFIX = "simplepose.key."
WS_POLICY_VIOLATION = 1008
CALLER_SCOPE_KEY = "simplepose.caller"
ANONYMOUS = "anonymous"
KEY_HELP = (
    "create a key and point the service at its file:\n"
    "  simplepose keys create NAME --file /path/api_keys   (prints the key once)\n"
    "  SIMPLEPOSE_API_KEYS_FILE=/path/api_keys simplepose serve ...\n"
    "or bind to 127.0.0.1, or set SIMPLEPOSE_AUTH=off to serve without keys "
    "(anyone who reaches the port can then use the model); see docs/access.md"
)


class AccessConfigError(ValueError):
    """The service must not start with these access settings."""


@dataclass(frozen=True)
class AccessPolicy:
    keys_file: Path | None  # None: no key checked
    reason: str

    @property
    def required(self) -> bool:
        return self.keys_file is not None


@dataclass(frozen=True)
class Caller:
    name: str  # key name, or ANONYMOUS: the only form that reaches logs and metrics
    bucket: str  # whose rate limits apply: "key:NAME" or "addr:IP"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def access_policy(settings: Settings) -> AccessPolicy:
    """Decide whether keys are required, or refuse to start (``AccessConfigError``)."""
    loopback = is_loopback(settings.host)
    if settings.auth == "off":
        where = "loopback only" if loopback else f"reachable on {settings.host}, NO KEY NEEDED"
        return AccessPolicy(None, f"off (SIMPLEPOSE_AUTH=off; {where})")
    if settings.auth is None and settings.api_keys_file is None and loopback:
        return AccessPolicy(None, f"off (bound to {settings.host}, no key file)")
    why = "SIMPLEPOSE_AUTH=required" if settings.auth else f"bound to {settings.host}"
    if settings.api_keys_file is None:
        raise AccessConfigError(f"API keys are required ({why}) but none are set up; {KEY_HELP}")
    try:
        ring = read_keyfile(settings.api_keys_file)
    except KeyFileError as exc:
        raise AccessConfigError(f"{exc}; {KEY_HELP}") from exc
    if not ring.records:
        raise AccessConfigError(f"{settings.api_keys_file} holds no key; {KEY_HELP}")
    names = ", ".join(ring.names())
    return AccessPolicy(settings.api_keys_file, f"API key required ({why}); keys: {names}")


def open_paths(app: FastAPI, settings: Settings) -> frozenset[str]:
    """Paths served without a key (HTTP only; every WebSocket needs one)."""
    paths = {*PROBE_PATHS, *PAGE_PATHS}
    if settings.metrics_public:
        paths.add(METRICS_PATH)
    if settings.docs_public:
        docs = (app.docs_url, app.redoc_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url)
        paths.update(p for p in docs if p)
    return frozenset(paths)


def presented_key(scope: Scope) -> bytes | None:
    """The key a request carries: ``Authorization: Bearer``, else ``X-API-Key``, else (for
    WebSockets) a ``simplepose.key.KEY`` subprotocol. ``None`` when it carries none."""
    found: dict[bytes, bytes] = {}
    for name, value in scope.get("headers") or []:
        if name in (b"authorization", b"x-api-key", b"sec-websocket-protocol"):
            found.setdefault(name, value)
    scheme_token = found.get(b"authorization", b"").split(None, 1)
    if scheme_token and scheme_token[0].lower() == b"bearer":
        return scheme_token[1].strip() if len(scheme_token) == 2 else b""
    if b"x-api-key" in found:
        return found[b"x-api-key"].strip()
    if scope["type"] == "websocket":
        prefix = WS_KEY_PROTOCOL_PREFIX.encode()
        for protocol in found.get(b"sec-websocket-protocol", b"").split(b","):
            if protocol.strip().startswith(prefix):
                return protocol.strip()[len(prefix) :]
    return None


def accepted_subprotocol(scope: Scope) -> str | None:
    """What a WebSocket route passes to ``websocket.accept(subprotocol=...)``: WS_SUBPROTOCOL
    when the client offered it (a browser fails the handshake if none of its offers is chosen;
    the key protocol is never echoed back)."""
    return WS_SUBPROTOCOL if WS_SUBPROTOCOL in scope.get("subprotocols", ()) else None


async def deny(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str,
    headers: dict[str, str],
) -> None:  # fmt: skip
    """The JSON error; a WebSocket gets it as the handshake's HTTP response where the server
    supports that (ASGI denial response), else a close with code 1008."""
    if scope["type"] == "http":
        await error_response(status, code, message, headers)(scope, receive, send)
    elif "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps(error_body(code, message)).encode()
        raw = [(b"content-type", b"application/json")]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "websocket.http.response.start", "status": status, "headers": raw})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": code})


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class AccessMiddleware:
    """401 without a valid key, 429 when the caller's request bucket is empty; otherwise the
    caller is put in the scope (``CALLER_SCOPE_KEY``) for the routes' own quotas."""

    def __init__(
        self,
        app: ASGIApp,
        store: KeyStore | None,
        limiter: RateLimiter,
        metrics: ServiceMetrics,
        public: frozenset[str],
    ):
        self.app = app
        self.store = store
        self.limiter = limiter
        self.metrics = metrics
        self.public = public
        self._counted: dict[str, Any] = {}  # key name -> its counter (labels() costs ~us)

    def is_public(self, scope: Scope) -> bool:
        path = scope["path"]
        return scope["type"] == "http" and (path in self.public or path.startswith(PAGE_PREFIXES))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.is_public(scope):
            await self.app(scope, receive, send)
            return
        if self.store is None:
            client = scope.get("client")
            caller = Caller(ANONYMOUS, f"addr:{client[0] if client else 'unknown'}")
        else:
            key = presented_key(scope)
            name = None if key is None else self.store.current().match(key)
            if name is None:
                reason = "missing" if key is None else "invalid"
                self.metrics.auth_failures.labels(reason).inc()
                challenge = f'Bearer realm="{REALM}"'
                if key is not None:
                    challenge += ', error="invalid_token"'
                message = (
                    "an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
                    if key is None
                    else "the API key is not valid (wrong, or revoked)"
                )
                code = f"{reason}_api_key"
                headers = {"WWW-Authenticate": challenge}
                await deny(scope, receive, send, 401, code, message, headers)
                return
            caller = Caller(name, f"key:{name}")
        wait = self.limiter.take(caller.bucket, REQUESTS)
        if wait > 0:
            self.metrics.rate_limited.labels(caller.name, REQUESTS).inc()
            spec = self.limiter.specs[REQUESTS]
            message = f"more than {spec.rate:g} requests/s (burst {spec.burst:g}); retry later"
            headers = {"Retry-After": retry_after(wait)}
            await deny(scope, receive, send, 429, "rate_limited", message, headers)
            return
        counter = self._counted.get(caller.name)
        if counter is None:
            counter = self._counted[caller.name] = self.metrics.key_requests.labels(caller.name)
        counter.inc()
        scope[CALLER_SCOPE_KEY] = caller
        await self.app(scope, receive, send)


def build_limiter(settings: Settings) -> RateLimiter:
    s = settings
    specs = {
        REQUESTS: BucketSpec(s.rate_limit_rps, s.rate_limit_burst),
        PERSONS: BucketSpec(s.rate_limit_persons_per_s, s.rate_limit_persons_burst),
        FRAMES: BucketSpec(s.rate_limit_frames_per_s, s.rate_limit_frames_burst),
    }
    return RateLimiter(specs, s.rate_limit_callers)


def document_access(app: FastAPI, public: frozenset[str], keys_required: bool) -> None:
    """Declare in the OpenAPI schema what this middleware adds to every operation it guards:
    the 429 of a spent budget and, when keys are required, the key (so /docs offers
    'Authorize' and sends it) and its 401."""
    build = app.openapi
    error = {"content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}}}

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        if keys_required:
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["apiKey"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "simplepose key",
            }
            schema["security"] = [{"apiKey": []}]
        for path, operations in schema.get("paths", {}).items():
            guarded = not (path in public or path.startswith(PAGE_PREFIXES))
            for operation in operations.values():
                if not guarded:
                    if keys_required:
                        operation["security"] = []
                    continue
                responses = operation.setdefault("responses", {})
                responses.setdefault("429", {"description": RATE_LIMITED_TEXT, **error})
                if keys_required:
                    responses.setdefault("401", {"description": UNAUTHORIZED_TEXT, **error})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


@dataclass(frozen=True)
class AccessControl:
    """What the routes need at request time (``app.state.access``)."""

    policy: AccessPolicy
    limiter: RateLimiter
    public: frozenset[str]


def install_access(app: FastAPI, settings: Settings, metrics: ServiceMetrics) -> AccessControl:
    """Add the access middleware (and CORS in front of it when origins are allowed)."""
    policy = access_policy(settings)
    store = None
    if policy.keys_file is not None:
        store = KeyStore(policy.keys_file, settings.keys_reload_s)
    limiter = build_limiter(settings)
    public = open_paths(app, settings)
    app.add_middleware(
        AccessMiddleware, store=store, limiter=limiter, metrics=metrics, public=public
    )
    if settings.cors_origins:  # outside the key check: preflights carry no key
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            expose_headers=["Retry-After", "WWW-Authenticate"],
            max_age=600,
        )
    document_access(app, public, policy.required)
    log.info("access: %s", policy.reason)
    access = AccessControl(policy, limiter, public)
    app.state.access = access
    return access
