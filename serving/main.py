"""The FastAPI app: ``create_app(settings)`` builds it; its lifespan loads the model once,
warms it up, and on shutdown lets queued inference finish."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from simplepose.serving.access import install_access
from simplepose.serving.api.routes import health, keypoints, model, stream, video
from simplepose.serving.errors import install_error_handlers
from simplepose.serving.metrics import ServiceMetrics
from simplepose.serving.middleware import MetricsMiddleware, UploadLimitMiddleware
from simplepose.serving.page import install_page
from simplepose.serving.predictor import KeypointPredictor
from simplepose.serving.settings import Settings, get_settings
from simplepose.serving.tracking import Slots

import simplepose
from simplepose.detection import PersonDetector
from simplepose.pipeline import HeatmapModel

log = logging.getLogger(__name__)
DEMO_BANNER = (
    "*** DEMO MODEL: trained for minutes on a few sample images; keypoints are rough. "
    "Not for real use: pass --model DIR or set SIMPLEPOSE_MODEL. ***"
)


DETECTOR_BANNER = (
    "*** PERSON DETECTOR: {label}: finds upright, fully visible people only. For real photos "
    "fetch a real detector (simplepose weights get yolox-m-humanart) and serve it with "
    "--detector yolox-m-humanart, or send person boxes with each request. ***"
)


def build_detector(settings: Settings) -> PersonDetector:
    """The detector named by ``settings.detector``, on the service's device."""
    from simplepose.detection import load_detector

    device = settings.device or "auto"
    return load_detector(settings.detector, device, settings.cache_dir, settings.offline)


def api_router() -> APIRouter:
    router = APIRouter()
    router.include_router(keypoints.router)
    router.include_router(video.router)
    router.include_router(stream.router)
    router.include_router(model.router)
    router.include_router(health.router)
    return router


def create_app(
    settings: Settings | None = None,
    model: HeatmapModel | None = None,
    device: str | None = None,
    detector: PersonDetector | None = None,
) -> FastAPI:
    """Build the service. ``model`` (already loaded, with ``device`` its device name) skips
    model resolution and loading, e.g. in tests; otherwise the lifespan resolves and loads it.
    ``detector`` likewise replaces the one ``settings.detector`` names."""
    settings = settings or get_settings()
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded, device_name = model, device or settings.device or "CPU"
        if loaded is None:
            from simplepose.serving.model_source import load_on_device, resolve_model

            choice = resolve_model(settings, progress=lambda text: log.info("%s", text))
            loaded, device_name = load_on_device(choice.path, settings.device, settings.device_id)
            log.info("model %s from %s", loaded.info.config.name, choice.path)
        person_detector = detector or build_detector(settings)
        predictor = KeypointPredictor(loaded, settings, metrics, device_name, person_detector)
        seconds = predictor.warm_up()
        if loaded.info.demo:
            log.warning("%s", DEMO_BANNER)
        log.info("person detector: %s", person_detector.info.label)
        if person_detector.info.fallback:
            log.warning("%s", DETECTOR_BANNER.format(label=person_detector.info.label))
        log.info(
            "ready: %s on %s, warm-up %.1f s, max batch %d, max wait %.1f ms",
            loaded.info.config.name, device_name, seconds,
            predictor.executor.max_batch, settings.max_wait_ms,
        )  # fmt: skip
        app.state.predictor = predictor
        try:
            yield
        finally:
            start = time.perf_counter()
            finished = predictor.close(settings.graceful_timeout_s)
            log.info(
                "inference executor %s in %.1f s",
                "drained" if finished else "did not finish", time.perf_counter() - start,
            )  # fmt: skip

    app = FastAPI(
        title="simplepose keypoint service",
        version=simplepose.__version__,
        description=(
            "SimpleBaselines top-down human pose: 17 COCO keypoints per person box. "
            'Every error is JSON {"error": {"code", "message"}}.'
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.predictor = None
    app.state.video_slots = Slots(settings.video_max_requests)
    app.state.stream_slots = Slots(settings.stream_max_connections)
    install_error_handlers(app)
    app.include_router(api_router())
    if settings.web_page:
        install_page(app)
    # Outermost last: metrics -> CORS -> API key + request rate -> upload limit -> routes.
    app.add_middleware(
        UploadLimitMiddleware,
        max_bytes=settings.max_upload_bytes,
        path_limits={"/keypoints/video": settings.video_max_bytes},
    )
    install_access(app, settings, metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
