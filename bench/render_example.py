"""The README's result picture: one coco-mini image rendered through the Python API.

    python bench/render_example.py --model runs/overfit/last.ckpt \
        --data ../shared/data/coco-mini --image 000000370162.jpg --output docs/img/result.jpg

Uses the image's ground-truth person boxes (COCO annotations, persons with keypoints), so the
picture shows the pose model, not a detector. Say which model drew it next to the picture.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
from _machine import machine

from simplepose import PoseEstimator

MIN_KEYPOINTS = 3  # persons with fewer labelled joints are left out (tiny background people)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model directory, .ckpt or registry name")
    parser.add_argument("--data", type=Path, required=True, help="COCO root (coco-mini)")
    parser.add_argument("--split", default="train2017")
    parser.add_argument("--image", required=True, help="file name inside the split")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()

    anns = json.loads(
        (args.data / "annotations" / f"person_keypoints_{args.split}.json").read_text()
    )
    image_id = next(i["id"] for i in anns["images"] if i["file_name"] == args.image)
    boxes = [
        a["bbox"]
        for a in anns["annotations"]
        if a["image_id"] == image_id and not a["iscrowd"] and a["num_keypoints"] >= MIN_KEYPOINTS
    ]
    estimator = PoseEstimator(args.model, device="CPU")
    image = cv2.imread(str(args.data / args.split / args.image))
    poses = estimator(image, boxes=boxes)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), estimator.render(image, poses, draw_boxes=False))
    print(json.dumps({"output": str(args.output), "persons": len(poses), "machine": machine()}))


if __name__ == "__main__":
    main()
