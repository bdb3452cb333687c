"""The served model's description."""

from __future__ import annotations

from fastapi import APIRouter

from simplepose.serving.api.deps import PredictorDep
from simplepose.serving.schemas import ERROR_RESPONSES, ModelJson

router = APIRouter(prefix="/v1", tags=["model"])


@router.get(
    "/model",
    response_model=ModelJson,
    summary="model.json of the served model, with its device, runtime, backend and precision",
    responses={503: ERROR_RESPONSES[503]},
)
def model_json(predictor: PredictorDep) -> ModelJson:
    card = predictor.summary  # the same card as /readyz and every response's "model"
    return ModelJson.model_validate(
        {
            **predictor.info.to_dict(),
            "device": predictor.device,
            "runtime": card["runtime"],
            "backend": card["backend"],
            "precision": card["precision"],
            "batch_sizes": card["batch_sizes"],
            "detector": predictor.detector_summary,
        }
    )
