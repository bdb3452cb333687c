"""The FastAPI app: ``create_app(settings)`` builds it; its lifespan loads the model once (in
the background unless given), warms it up, and on shutdown lets queued inference finish."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

import simplepose
from simplepose.detection import PersonDetector
from simplepose.hub.resolve import NO_BUILDERS, Builders
from simplepose.pose.pipeline import HeatmapModel
from simplepose.serving.access import install_access
from simplepose.serving.api.routes import health, keypoints, model, stream, video_upload
from simplepose.serving.http_errors import install_error_handlers
from simplepose.serving.metrics import ServiceMetrics
from simplepose.serving.middleware import (
    MetricsMiddleware,
    RedactKeyQueryMiddleware,
    UploadLimitMiddleware,
)
from simplepose.serving.page import install_page
from simplepose.serving.predictor import KeypointPredictor
from simplepose.serving.settings import Settings, get_settings, hub_options
from simplepose.serving.tracking import Slots

log = logging.getLogger(__name__)
DEMO_BANNER = (
    "*** DEMO MODEL: trained for minutes on a few sample images; keypoints are rough. "
    "Not for real use: pass --model DIR or set SIMPLEPOSE_MODEL. ***"
)


DETECTOR_BANNER = (
    "*** PERSON DETECTOR: {label}. Images sent without boxes are not searched for people. Fetch "
    "the real detector where there is a network (simplepose weights get rtmdet-nano-person; "
    "copy the cache to offline hosts) and serve with --detector auto, or send person boxes "
    "with each request. ***"
)


def build_detector(settings: Settings) -> PersonDetector:
    """The detector named by ``settings.detector``, on the service's device, with the
    preprocessing and thresholds the settings give (the hub)."""
    from simplepose.hub.resolve import resolve_detector

    options = settings.detector_options()
    return resolve_detector(settings.detector, hub_options(settings), options)


def api_router() -> APIRouter:
    router = APIRouter()
    router.include_router(keypoints.router)
    router.include_router(video_upload.router)
    router.include_router(stream.router)
    router.include_router(model.router)
    router.include_router(health.router)
    return router


class ModelLoader:
    """Brings the model up: resolve, load, warm up, then publish the predictor on ``app.state``.

    With a model given (tests, embedding) this runs before the server accepts requests. Without
    one, ``simplepose serve`` runs it in a background thread, so ``/healthz`` answers (liveness)
    while a default model downloads or the demo trains; ``/readyz`` turns 200 only after it.
    A failure is logged, kept in ``error`` (``/readyz`` reports it) and passed to ``on_error``.
    """

    def __init__(
        self,
        app: FastAPI,
        settings: Settings,
        metrics: ServiceMetrics,
        detector: PersonDetector | None,
        on_error: Callable[[BaseException], None] | None = None,
        builders: Builders = NO_BUILDERS,
    ):
        self.app, self.settings, self.metrics = app, settings, metrics
        self.builders = builders
        self.detector = detector
        self.on_error = on_error
        self.error: str | None = None
        self.closing = threading.Event()
        self._published = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, model: HeatmapModel | None, device: str | None) -> None:
        if model is not None:
            self.bring_up(model, device or self.settings.device or "CPU")
            return
        self._thread = threading.Thread(target=self._resolve_and_bring_up, name="model-loader",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _resolve_and_bring_up(self) -> None:
        from simplepose.hub.resolve import resolve_model
        from simplepose.runtime.on_device import load_on_device

        s = self.settings
        try:
            choice = resolve_model(s.model, hub_options(s), self.builders)
            loaded, device_name = load_on_device(
                choice.path,
                s.device,
                s.device_id,
                backend=s.backend,
                threads=s.threads,
                sessions=s.sessions,
            )
            log.info("model %s from %s", loaded.info.config.name, choice.path)
            self.bring_up(loaded, device_name)
        except Exception as exc:  # any failure must reach /readyz and the process exit code
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("the model could not be loaded: %s", self.error)
            if self.on_error is not None:
                self.on_error(exc)

    def bring_up(self, loaded: HeatmapModel, device_name: str) -> None:
        s = self.settings
        person_detector = self.detector or build_detector(s)
        predictor = KeypointPredictor(loaded, s, self.metrics, device_name, person_detector)
        seconds = predictor.warm_up()
        if loaded.info.demo:
            log.warning("%s", DEMO_BANNER)
        log.info("person detector: %s", person_detector.info.label)
        if person_detector.info.fallback:
            log.warning("%s", DETECTOR_BANNER.format(label=person_detector.info.label))
        with self._published:
            if self.closing.is_set():  # shut down while loading: nothing to serve
                predictor.close(0)
                return
            self.app.state.predictor = predictor
        log.info(
            "ready: %s on %s (%s), warm-up %.1f s, max batch %d, buckets %s, max wait %.1f ms",
            loaded.info.config.name, device_name, predictor.summary["backend"], seconds,
            predictor.executor.max_batch, predictor.batch_sizes or "any", s.max_wait_ms,
        )  # fmt: skip

    def close(self) -> bool:
        """Stop accepting work and let queued inference finish; True when it all finished."""
        with self._published:
            self.closing.set()
            predictor = self.app.state.predictor
        if predictor is None:
            return True
        start = time.perf_counter()
        finished = predictor.close(self.settings.graceful_timeout_s)
        log.info(
            "inference executor %s in %.1f s",
            "drained" if finished else "did not finish", time.perf_counter() - start,
        )  # fmt: skip
        return finished


def create_app(
    settings: Settings | None = None,
    model: HeatmapModel | None = None,
    device: str | None = None,
    detector: PersonDetector | None = None,
    on_load_error: Callable[[BaseException], None] | None = None,
    builders: Builders = NO_BUILDERS,
) -> FastAPI:
    """Build the service. ``model`` (already loaded, with ``device`` its device name) skips
    model resolution and loading, e.g. in tests; otherwise the model is resolved and loaded in
    the background (see ``ModelLoader``) through the hub, which builds what is missing with
    ``builders`` (the command line's; none: cached models only). ``detector`` likewise replaces the one
    ``settings.detector`` names. ``app.state.drained`` says after shutdown whether queued
    inference finished."""
    settings = settings or get_settings()
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader = ModelLoader(app, settings, metrics, detector, on_load_error, builders)
        app.state.loader = loader
        loader.start(model, device)
        try:
            yield
        finally:
            app.state.drained = loader.close()

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
    app.state.loader = None
    app.state.drained = True
    app.state.video_slots = Slots(settings.video_max_requests, settings.video_max_requests_per_key)
    app.state.stream_slots = Slots(
        settings.stream_max_connections, settings.stream_max_connections_per_key
    )
    install_error_handlers(app)
    app.include_router(api_router())
    if settings.web_page:
        install_page(app)
    # Outermost last: key redaction -> metrics -> CORS -> API key + request rate -> upload limit
    # -> routes.
    app.add_middleware(
        UploadLimitMiddleware,
        max_bytes=settings.max_upload_bytes,
        path_limits={"/keypoints/video": settings.video_max_bytes},
    )
    install_access(app, settings, metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RedactKeyQueryMiddleware)
    return app
