"""Training samples as a ``mindspore.dataset`` pipeline: decode, augment, crop, normalise, targets.

Order and augmentation are deterministic functions of ``(seed, epoch, sample index)``, so a run
resumed mid-epoch sees exactly the samples and jitter it would have seen. Data-parallel ranks
take disjoint, equally long shards of each epoch's permutation.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from simplepose.config.presets import Config
from simplepose.pose.codec import HeatmapCodec
from simplepose.pose.pipeline import normalise_crops, read_image
from simplepose.training.augment import augment
from simplepose.training.coco import PersonSample, SkipCounter

log = logging.getLogger(__name__)
COLUMNS = ("image", "target", "target_weight", "index")
MAX_SUBSTITUTES = 16  # consecutive unreadable images tolerated before giving up


class PoseSource:
    """Random-access source of ``(image (3, H, W), target (K, h, w), target_weight (K,),
    index)`` float32/int32 arrays.

    An unreadable image is logged, counted in ``skipped`` and replaced by the next readable
    sample, so a bad file costs one sample, not the run.
    """

    def __init__(
        self,
        samples: list[PersonSample],
        config: Config,
        train: bool = True,
        epoch: int = 0,
        skipped: SkipCounter | None = None,
    ):
        if not samples:
            raise ValueError("no usable person samples (non-crowd persons with keypoints)")
        self.samples = samples
        self.config = config
        self.train = train
        self.epoch = epoch
        self.skipped = skipped if skipped is not None else SkipCounter()
        m = config.model
        self.codec = HeatmapCodec(
            m.input_size, m.heatmap_size, m.sigma, unbiased=config.data.unbiased_targets
        )
        self._bad: set[int] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        for offset in range(MAX_SUBSTITUTES):
            idx = (int(index) + offset) % len(self.samples)
            if idx in self._bad:
                continue
            try:
                return self.load(idx)
            except ValueError as exc:
                with self._lock:
                    if idx not in self._bad:
                        self._bad.add(idx)
                        self.skipped.add("unreadable images")
                log.warning("skipping sample %d: %s", idx, exc)
        raise RuntimeError(f"{MAX_SUBSTITUTES} consecutive unreadable images near sample {index}")

    def load(self, idx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sample ``idx`` as network input and targets; ``ValueError`` if its image is bad."""
        sample = self.samples[idx]
        image = read_image(str(sample.image_path))
        rng = None
        if self.train:
            rng = np.random.default_rng([self.config.train.seed, self.epoch, idx])
        m = self.config.model
        crop, joints, visible = augment(
            image,
            sample.joints[:, :2],
            sample.joints[:, 2],
            sample.center,
            sample.scale,
            m.input_size,
            self.config.data,
            rng,
            self.config.keypoints,
        )
        target, weight = self.codec.encode(joints[None], visible[None])
        return (
            normalise_crops(crop[None], m)[0],
            target[0],
            weight[0],
            np.array(idx, dtype=np.int32),
        )


@dataclass(frozen=True)
class Shard:
    """This process's part of a data-parallel run."""

    rank: int = 0
    size: int = 1

    def __post_init__(self) -> None:
        if self.size < 1 or not 0 <= self.rank < self.size:
            raise ValueError(f"bad shard: rank {self.rank} of {self.size}")


def steps_per_epoch(num_samples: int, batch_size: int, shard: Shard) -> int:
    """Full batches per epoch and rank (the remainder of the epoch is dropped)."""
    return (num_samples // shard.size) // batch_size


def epoch_indices(
    num_samples: int, epoch: int, seed: int, shard: Shard, batch_size: int, shuffle: bool = True
) -> np.ndarray:
    """Sample indices this rank reads in ``epoch``: a seeded permutation, dealt round-robin to
    the ranks, cut to ``steps_per_epoch * batch_size`` so every rank runs the same steps."""
    order = np.arange(num_samples)
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(num_samples)
    count = steps_per_epoch(num_samples, batch_size, shard) * batch_size
    return order[shard.rank :: shard.size][:count]


def build_dataset(
    source: PoseSource,
    indices: np.ndarray,
    batch_size: int,
    num_workers: int,
) -> Any:
    """Batched ``GeneratorDataset`` over ``indices`` (in that order) with parallel workers."""
    import mindspore.dataset as ds

    if len(indices) == 0:
        raise ValueError(
            f"no full batch of {batch_size} in this epoch ({len(source)} samples): "
            "lower train.batch_size"
        )
    dataset = ds.GeneratorDataset(
        source,
        column_names=list(COLUMNS),
        sampler=[int(i) for i in indices],
        num_parallel_workers=max(1, num_workers),
        python_multiprocessing=False,
    )
    return dataset.batch(batch_size, drop_remainder=True)
