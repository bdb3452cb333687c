"""Pipeline results -> plain JSON-ready dicts (shared by the service and ``predict``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from simplepose.pose.pipeline import Persons


def persons_to_json(
    persons: Persons, min_score: float = 0.0, track_ids: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """One dict per person with ``score >= min_score``, in the pipeline's order (best first);
    with ``track_ids`` ``(N,)`` each starts with its ``track_id``."""
    out = []
    for i in range(len(persons)):
        score = float(persons.scores[i])
        if score < min_score:
            continue
        tracked = {} if track_ids is None else {"track_id": int(track_ids[i])}
        out.append(
            {
                **tracked,
                "bbox": [float(v) for v in persons.boxes[i]],
                "bbox_score": float(persons.box_scores[i]),
                "score": score,
                "keypoints": np.asarray(persons.keypoints[i], dtype=np.float64).tolist(),
            }
        )
    return out
