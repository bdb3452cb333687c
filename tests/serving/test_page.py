"""The web page's HTTP side: what is served at / and /web/, with which headers, and the switch."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from serving_helpers import make_test_settings

from simplepose.config import presets as config
from simplepose.serving.main import create_app
from simplepose.serving.page import CONTENT_SECURITY_POLICY, STATIC_DIR

# No lifespan (no `with`): the page needs no model, and these tests load none.
ON = TestClient(create_app(make_test_settings()))
OFF = TestClient(create_app(make_test_settings(web_page=False)))
ASSETS = sorted(p.name for p in STATIC_DIR.iterdir() if p.name != "index.html")


def test_index_is_the_page_with_its_security_headers() -> None:
    r = ON.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "<canvas" in r.text and '<script type="module" src="/web/main.js">' in r.text
    csp = r.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    for name in ("default-src", "script-src", "style-src", "connect-src"):
        assert directives[name] == "'self'", name  # own origin only: no CDN, no inline code
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["etag"].startswith('"')


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("main.js", "text/javascript; charset=utf-8"), ("style.css", "text/css; charset=utf-8"),
     ("icon.svg", "image/svg+xml"), ("meta.json", "application/json")],
)  # fmt: skip
def test_assets_have_their_content_types(name: str, media_type: str) -> None:
    r = ON.get(f"/web/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == media_type
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_unchanged_files_revalidate_with_304() -> None:
    first = ON.get("/web/main.js")
    again = ON.get("/web/main.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    stale = ON.get("/web/main.js", headers={"If-None-Match": '"0000"'})
    assert stale.status_code == 200 and stale.content == first.content


@pytest.mark.parametrize(
    "path",
    ["/web/nope.js", "/web/..%2Fpage.py", "/web/../page.py", "/web/%2e%2e/settings.py",
     "/web/index.html", "/web/", "/web/page.py", "/web/static"],
)  # fmt: skip
def test_only_the_shipped_files_are_served(path: str) -> None:
    r = ON.get(path)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_meta_holds_no_keypoint_table() -> None:
    """Names and skeleton are the served model's (GET /v1/model), not a table of the page's."""
    meta = ON.get("/web/meta.json").json()
    assert "skeleton" not in meta and "keypoint_names" not in meta
    # through the module: a TestConfig name in this file would be collected by pytest
    assert meta["visibility_threshold"] == config.TestConfig.in_vis_thre


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """Offline: every file the page references is served here, and no file names another host."""
    index = ON.get("/").text
    referenced = set(re.findall(r'(?:src|href)="(/web/[^"]+)"', index))
    for name in ASSETS:
        text = ON.get(f"/web/{name}").text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        referenced |= {"/web/" + m for m in re.findall(r'from "\./([\w.]+)"', text)}
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text), name
    assert not re.search(r'(?:src|href)="(?:https?:)?//', index)
    assert referenced >= {"/web/main.js", "/web/style.css", "/web/api.js", "/web/draw.js"}
    for path in referenced:
        assert ON.get(path).status_code == 200, path
    # no inline script or style the CSP would block
    assert "<style" not in index and " style=" not in index and "onclick" not in index
    assert not re.search(r"<script(?![^>]*\bsrc=)", index)


def test_switched_off_the_page_is_gone_and_the_api_stays() -> None:
    for path in ("/", "/web/main.js", "/web/meta.json"):
        r = OFF.get(path)
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "not_found"
    assert OFF.get("/healthz").status_code == 200


def test_the_api_docs_keep_their_own_headers() -> None:
    r = ON.get("/docs")
    assert r.status_code == 200
    assert "content-security-policy" not in r.headers  # Swagger UI loads its own assets


def test_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from simplepose.serving.settings import Settings

    monkeypatch.setenv("SIMPLEPOSE_WEB_PAGE", "false")
    assert Settings(_env_file=None).web_page is False
    monkeypatch.setenv("SIMPLEPOSE_WEB_PAGE", "true")
    assert Settings(_env_file=None).web_page is True
