"""The nine-point custom keypoint dataset of the tests (``tests/custom_keypoints.py``), for the
benches of own keypoints. Also a command that writes it and prints the dataset file's path:

    python bench/_custom_dataset.py ../shared/data/coco-mini /tmp/upper9
    python bench/overfit.py --dataset /tmp/upper9/upper9.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"


def upper9_dataset(coco_root: Path, out: Path) -> Path:
    """Write the dataset built from coco-mini under ``out``; returns its dataset file."""
    sys.path.insert(0, str(TESTS))
    from custom_keypoints import write_custom_dataset

    return write_custom_dataset(Path(coco_root), Path(out))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/_custom_dataset.py COCO_MINI_ROOT OUTPUT_DIR")
    print(upper9_dataset(Path(sys.argv[1]), Path(sys.argv[2])))
