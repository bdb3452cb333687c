"""Shared request dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from simplepose.serving.errors import ServiceError
from simplepose.serving.metrics import ServiceMetrics
from simplepose.serving.predictor import KeypointPredictor
from simplepose.serving.quota import Quota, quota_of
from simplepose.serving.settings import Settings


def get_predictor(request: Request) -> KeypointPredictor:
    predictor = getattr(request.app.state, "predictor", None)
    if predictor is None or not predictor.ready:
        raise ServiceError(503, "not_ready", "the model is still loading", {"Retry-After": "1"})
    return predictor


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


PredictorDep = Annotated[KeypointPredictor, Depends(get_predictor)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
QuotaDep = Annotated[Quota, Depends(quota_of)]
