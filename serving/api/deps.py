"""Shared request dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from simplepose.serving.http_errors import ServiceError
from simplepose.serving.metrics import ServiceMetrics
from simplepose.serving.predictor import KeypointPredictor
from simplepose.serving.quota import Quota, quota_of


def get_predictor(request: Request) -> KeypointPredictor:
    state = request.app.state
    predictor = getattr(state, "predictor", None)
    if predictor is None or not predictor.ready:
        loader = getattr(state, "loader", None)
        if loader is not None and loader.error is not None:
            raise ServiceError(503, "load_failed", f"the model could not be loaded: {loader.error}")
        raise ServiceError(503, "not_ready", "the model is still loading", {"Retry-After": "1"})
    return predictor


def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


PredictorDep = Annotated[KeypointPredictor, Depends(get_predictor)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
QuotaDep = Annotated[Quota, Depends(quota_of)]
