"""The web page at ``/``: a single offline page (plain HTML/CSS/JS in ``serving/static/``).

The files are read once when the app is built and served from memory under ``/web/<name>``
(an allow-list: only the files that ship, no path from the request reaches the file system).
Every page response carries a Content-Security-Policy that allows the page's own origin only,
``Cache-Control: no-cache`` with a content ETag (browsers revalidate, an upgrade is seen at
once, an unchanged file costs a 304), and ``nosniff``. ``Settings.web_page`` switches it off.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response

from simplepose.config.presets import TestConfig
from simplepose.serving.http_errors import ServiceError

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGE_PREFIX = "/web"
INDEX = "index.html"
META = "meta.json"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}
# Same origin only: no CDN, no inline script or style; images are drawn from blob:/data: URLs
# the page makes itself; connect-src 'self' covers fetch and the same-origin WebSocket.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class PageFile:
    body: bytes
    media_type: str
    etag: str


def _page_file(body: bytes, media_type: str) -> PageFile:
    return PageFile(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def page_meta() -> dict[str, object]:
    """The page's start values. The keypoint names and skeleton it draws with are the served
    model's own: ``GET /v1/model`` and every response carry them."""
    return {
        # the slider's start value; each model's own is in its card (GET /v1/model, config.test)
        "visibility_threshold": TestConfig.in_vis_thre,
    }


def load_page_files(directory: Path = STATIC_DIR) -> dict[str, PageFile]:
    """Every servable file of ``directory`` by name, plus the generated ``meta.json``."""
    files = {
        path.name: _page_file(path.read_bytes(), MEDIA_TYPES[path.suffix])
        for path in sorted(directory.iterdir())
        if path.is_file() and path.suffix in MEDIA_TYPES
    }
    if INDEX not in files:
        raise FileNotFoundError(f"the web page's {INDEX} is missing from {directory}")
    files[META] = _page_file(json.dumps(page_meta()).encode(), MEDIA_TYPES[".json"])
    return files


def _respond(request: Request, page: PageFile) -> Response:
    headers = {**PAGE_HEADERS, "ETag": page.etag}
    match = request.headers.get("if-none-match", "")
    if page.etag in (tag.strip() for tag in match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type=page.media_type, headers=headers)


def page_router(files: dict[str, PageFile]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def index(request: Request) -> Response:
        return _respond(request, files[INDEX])

    @router.get(PAGE_PREFIX + "/{name}")
    def asset(name: str, request: Request) -> Response:
        page = files.get(name)
        if page is None or name == INDEX:
            raise ServiceError(404, "not_found", f"the web page has no file {name!r}")
        return _respond(request, page)

    return router


def install_page(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files under ``/web/``."""
    app.include_router(page_router(load_page_files()))
