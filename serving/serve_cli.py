"""``simplepose serve``: the HTTP keypoint service.

Heavy imports (MindSpore, FastAPI, uvicorn) happen inside the handler.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from simplepose.hub.resolve import NO_BUILDERS
from simplepose.serving.cli_options import (
    DETECTOR_FIELDS,
    add_detector_option,
    add_model_options,
    load_settings_detector,
    settings_from_args,
)

if TYPE_CHECKING:
    from simplepose.serving.settings import Settings

log = logging.getLogger(__name__)
EXIT_FAILED = 1  # the model did not load, or queued inference did not finish at shutdown
SERVE_EPILOG = """\
model resolution (the model hub, the same for predict, evaluate and the Python API): --model /
SIMPLEPOSE_MODEL, a model directory, .ckpt or registry name (simplepose weights list); else the
cached default pretrained model (downloaded and built on first run unless --offline); else a
DEMO model built on first run (a few minutes, cached) and labelled "demo": true in every
response. Building needs MindSpore; an exported ONNX model directory serves without it.

every option also reads SIMPLEPOSE_<NAME> from the environment (e.g. SIMPLEPOSE_PORT=9000,
SIMPLEPOSE_DEVICE=Ascend); command-line values win. When MindSpore loads, ONEDNN_MAX_CPU_ISA=AVX2
is set unless already set (MindSpore on AVX-512 CPUs is ~70x slower without it).

person detector (images sent without boxes): --detector / SIMPLEPOSE_DETECTOR; default auto:
OpenMMLab's RTMDet-nano person detector (rtmdet-nano-person), fetched once into the cache (offline
hosts: simplepose weights get rtmdet-nano-person where there is a network, copy the cache). When
it cannot be had the whole image is one person, labelled as a FALLBACK in the start-up log,
/v1/model and every response (see docs/detector.md). Boxes sent by the client always win;
?detector=none skips detection.

examples:
  simplepose serve --model exported/res50_256x192
  curl -F image=@person.jpg -F 'boxes=[[10,20,200,400]]' http://127.0.0.1:8000/keypoints
"""


WS_MESSAGE_MARGIN_BYTES = 64 * 1024  # over the largest frame, so it still gets its error message
SERVE_OPTIONS = (
    "model", "device", "device_id", "cache_dir", "offline", "backend", "threads", "sessions",
    "host", "port", "max_batch", "max_wait_ms", "queue_size", "log_level", "web_page",
    *DETECTOR_FIELDS,
)  # fmt: skip


def uvicorn_config(app: Any, settings: Settings) -> Any:
    """The uvicorn configuration ``simplepose serve`` runs ``app`` with."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.graceful_timeout_s),
        workers=1,  # one process = one copy of the model and one executor per device
        # Frames are JPEG/PNG: compression buys nothing, and inflating a small message into
        # megabytes would run on the event loop.
        ws_per_message_deflate=False,
        # A larger message is refused from its frame header (close 1009), never read.
        ws_max_size=settings.stream_max_frame_bytes + WS_MESSAGE_MARGIN_BYTES,
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from simplepose.hub.pins import read_pins
    from simplepose.serving.access import access_policy
    from simplepose.serving.main import create_app

    settings = settings_from_args(args, SERVE_OPTIONS)
    access_policy(settings)  # refuse an unprotected public bind before loading anything
    if settings.pinned_digests is not None:  # a broken pin file fails here, before listening
        read_pins(settings.pinned_digests)
    if settings.model is not None:  # a name that means nothing fails before listening
        from simplepose.hub.resolve import check_model_name

        check_model_name(settings.model)
    server: uvicorn.Server | None = None

    def stop(_: BaseException) -> None:  # the model failed to load: nothing to serve
        if server is not None:
            server.should_exit = True

    app = create_app(
        settings,
        detector=load_settings_detector(settings),
        on_load_error=stop,
        builders=getattr(args, "builders", NO_BUILDERS),
    )
    config = uvicorn_config(app, settings)
    server = uvicorn.Server(config)
    page = " (web page at /)" if settings.web_page else ""
    where = settings.model or "the default model (resolved in the background)"
    print(f"serving {where} on http://{settings.host}:{settings.port}{page}", file=sys.stderr)
    _run_until_signal(server)
    loader = app.state.loader
    if not server.started or (loader is not None and loader.error is not None):
        return EXIT_FAILED
    return 0 if app.state.drained else EXIT_FAILED


def _run_until_signal(server: Any) -> None:
    """Run uvicorn; a SIGTERM it handled with a clean shutdown is not an error.

    uvicorn re-raises the signal it caught once it has shut down, which would end the process
    with -15 after a clean drain; a handler installed here receives that re-raise instead.
    (Ctrl-C keeps its usual meaning: exit 130.)
    """
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if received:
        log.info("stopped by SIGTERM")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    serve = sub.add_parser(
        "serve",
        help="run the HTTP keypoint service (POST /keypoints)",
        description="Run the HTTP keypoint service: POST /keypoints, /keypoints/render, "
        "GET /healthz, /readyz, /metrics, /v1/model, /docs.",
        epilog=SERVE_EPILOG,
        formatter_class=fmt,
    )
    add_model_options(serve)
    serve.add_argument("--host", help="bind address (default 127.0.0.1; 0.0.0.0 in containers)")
    serve.add_argument("--port", type=int, help="TCP port (default 8000)")
    serve.add_argument("--max-batch", type=int, help="most person crops per model call (16)")
    serve.add_argument("--max-wait-ms", type=float, help="how long a batch may wait to fill (5)")
    serve.add_argument("--queue-size", type=int, help="crops waiting before 503 (256)")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    serve.add_argument(
        "--web-page",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the web page at / (default on; --no-web-page: / answers 404)",
    )
    add_detector_option(serve)
    serve.set_defaults(func=_serve)
