"""``POST /keypoints`` (JSON) and ``POST /keypoints/render`` (PNG)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from simplepose.drawing import draw_persons, encode_png
from simplepose.serving.api.deps import PredictorDep, QuotaDep
from simplepose.serving.predictor import Prediction, detector_summary
from simplepose.serving.results import persons_to_json
from simplepose.serving.schemas import ERROR_RESPONSES, DecodeMethod, KeypointsResponse

router = APIRouter(prefix="/keypoints", tags=["keypoints"])

ImageFile = Annotated[
    UploadFile,
    File(description="JPEG, PNG, WebP or BMP; EXIF orientation is applied"),
]
BoxesField = Annotated[
    str | None,
    Form(
        description=(
            "JSON list of person boxes in image pixels: [[x, y, w, h], ...] or "
            '[{"bbox": [x, y, w, h], "score": s}, ...]. Omitted: the server\'s person detector '
            "finds the boxes (detector=none: the whole image is one person)."
        ),
        examples=["[[10, 20, 200, 400]]"],
    ),
]
DecodeQuery = Annotated[
    DecodeMethod | None,
    Query(description="heatmap decoding; default from the server settings (dark)"),
]
ScoreQuery = Annotated[
    float, Query(ge=0.0, le=1.0, description="leave out persons scoring below this")
]
NmsQuery = Annotated[bool, Query(description="OKS non-maximum suppression over the persons")]
DetectorQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        description="'none': no detection, the whole image is one person; default (or the "
        "server's detector name): run it. Ignored when boxes are sent.",
    ),
]


async def _predict(
    predictor: PredictorDep,
    quota: QuotaDep,
    image: UploadFile,
    boxes: str | None,
    decode: str | None,
    nms: bool,
    detector: str | None,
) -> Prediction:
    data = await image.read()
    return await predictor.predict(
        data, image.content_type, boxes, decode, nms, detector, quota.spend_persons
    )


@router.post(
    "",
    response_model=KeypointsResponse,
    summary="17 COCO keypoints per person box",
    responses=ERROR_RESPONSES,
)
async def keypoints(
    predictor: PredictorDep,
    quota: QuotaDep,
    image: ImageFile,
    boxes: BoxesField = None,
    decode: DecodeQuery = None,
    score_threshold: ScoreQuery = 0.0,
    nms: NmsQuery = False,
    detector: DetectorQuery = None,
) -> KeypointsResponse:
    result = await _predict(predictor, quota, image, boxes, decode, nms, detector)
    return KeypointsResponse.model_validate(
        {
            "model": predictor.summary,
            "detector": detector_summary(result.boxes_from),
            "image": {"width": result.image.width, "height": result.image.height},
            "keypoint_names": list(predictor.info.keypoint_names),
            "skeleton": list(predictor.info.keypoints.skeleton),
            "persons": persons_to_json(result.persons, score_threshold),
            "timing_ms": result.timing_ms,
        }
    )


@router.post(
    "/render",
    response_class=Response,
    summary="the image with each person's skeleton drawn, as PNG",
    responses={200: {"content": {"image/png": {}}, "description": "PNG"}, **ERROR_RESPONSES},
)
async def render(
    predictor: PredictorDep,
    quota: QuotaDep,
    image: ImageFile,
    boxes: BoxesField = None,
    decode: DecodeQuery = None,
    score_threshold: ScoreQuery = 0.0,
    nms: NmsQuery = False,
    detector: DetectorQuery = None,
) -> Response:
    result = await _predict(predictor, quota, image, boxes, decode, nms, detector)
    keep = result.persons.scores >= score_threshold
    png = await run_in_threadpool(
        lambda: encode_png(
            draw_persons(
                result.image.bgr,
                result.persons.keypoints[keep],
                result.persons.boxes[keep],
                predictor.params.in_vis_thre,
                keypoint_set=predictor.info.keypoints,
            )  # fmt: skip
        )
    )
    return Response(png, media_type="image/png")
