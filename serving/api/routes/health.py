"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from simplepose.serving.api.deps import MetricsDep, PredictorDep
from simplepose.serving.metrics import PROMETHEUS_CONTENT_TYPE
from simplepose.serving.schemas import ERROR_RESPONSES, HealthResponse, ReadyResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthResponse, summary="the process is alive")
def healthz() -> HealthResponse:
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    summary="the model is loaded and warmed up (503 until then)",
    responses={503: ERROR_RESPONSES[503]},
)
def readyz(predictor: PredictorDep) -> ReadyResponse:
    return ReadyResponse.model_validate({"status": "ready", "model": predictor.summary})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {PROMETHEUS_CONTENT_TYPE: {}}, "description": "text format"}},
)
def metrics(registry: MetricsDep) -> Response:
    return Response(registry.render(), media_type=PROMETHEUS_CONTENT_TYPE)
