"""The served model's description."""

from __future__ import annotations

from fastapi import APIRouter

from simplepose.serving.api.deps import PredictorDep
from simplepose.serving.schemas import ERROR_RESPONSES, ModelJson

router = APIRouter(prefix="/v1", tags=["model"])


@router.get(
    "/model",
    response_model=ModelJson,
    summary="model.json of the served model (demo: true for the demo model)",
    responses={503: ERROR_RESPONSES[503]},
)
def model_json(predictor: PredictorDep) -> ModelJson:
    return ModelJson.model_validate(
        {
            **predictor.info.to_dict(),
            "device": predictor.device,
            "detector": predictor.detector_summary,
        }
    )
