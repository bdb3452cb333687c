"""The service's numbers are the evaluator's and the Python API's: coco-mini val, ground-truth
boxes, over HTTP."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest
from serving_helpers import make_test_settings

from simplepose.pose.geometry import BoxError, clip_boxes

TOLERANCE_PX = 1e-3  # the evaluator's results file rounds coordinates to 1e-3 px itself
MAX_PERSONS = 32  # more than any coco-mini val image has: one request = one model call


@pytest.fixture(scope="module")
def default_client(tiny_mindir_model):
    """An app with the default upload limits (coco images exceed the small test limits).

    Requests are sent one at a time and fit one model call, and the evaluator runs with
    batch_size=1 (one image per call): both feed the graph exactly the same batches. Batching
    crops of different images together changes float32 convolution results in the last bits,
    which DARK decoding of a random-weight model's flat heatmaps can amplify to ~1e-3 px.
    """
    from fastapi.testclient import TestClient

    from simplepose.serving.main import create_app

    with TestClient(
        create_app(make_test_settings(max_batch=MAX_PERSONS), model=tiny_mindir_model, device="CPU")
    ) as c:
        yield c


@pytest.mark.slow
def test_http_keypoints_equal_simplepose_evaluate_and_the_python_api(
    coco_mini, default_client, tiny_mindir_model, tiny_mindir_dir
) -> None:
    from simplepose import PoseEstimator
    from simplepose.training.coco import gt_boxes, image_dir, load_annotations
    from simplepose.training.evaluate import evaluate

    estimator = PoseEstimator(tiny_mindir_dir, device="CPU")  # its own copy of the model
    api_worst = 0.0

    result = evaluate(
        tiny_mindir_model, coco_mini, "val2017", boxes="gt", decode="dark", batch_size=1
    )
    expected: dict[int, list[np.ndarray]] = defaultdict(list)
    for entry in result.results:
        expected[entry["image_id"]].append(np.asarray(entry["keypoints"]).reshape(17, 3))

    data = load_annotations(coco_mini, "val2017")
    items = gt_boxes(data, image_dir(coco_mini, "val2017"))
    checked = 0
    for image_id, item in items.items():
        if not len(item.boxes):
            continue
        meta = next(i for i in data["images"] if i["id"] == image_id)
        usable = []
        for box in item.boxes:
            try:
                clip_boxes(box, meta["width"], meta["height"])
                usable.append(box.tolist())
            except BoxError:
                continue  # the evaluator skips these too; the service would answer 422
        response = default_client.post(
            "/keypoints",
            files={"image": (item.image_path.name, item.image_path.read_bytes(), "image/jpeg")},
            data={"boxes": json.dumps(usable)},
            params={"nms": "true", "decode": "dark"},
        )
        assert response.status_code == 200, response.text
        got = [np.asarray(p["keypoints"]) for p in response.json()["persons"]]
        poses = estimator(item.image_path, boxes=usable, nms=True)
        assert len(poses) == len(got), image_id
        for api, served in zip(poses.with_scores(), got, strict=True):  # same order
            api_worst = max(api_worst, float(np.abs(api - served).max()))
        want = expected[image_id]
        assert len(got) == len(want), image_id
        for person in want:  # same persons; order may differ only between exact score ties
            diffs = [np.abs(g - person).max() for g in got]
            assert min(diffs) <= TOLERANCE_PX, (image_id, min(diffs))
            checked += 1
    assert checked == result.num_boxes - result.skipped.get("boxes outside their image", 0)
    assert checked >= 60
    assert api_worst <= TOLERANCE_PX, api_worst
