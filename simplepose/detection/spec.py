"""How images are fed to an ONNX person detector, and the presets of the graphs we know.

A spec comes from (first found): the user's options (``DetectorOptions``), the mmdeploy
``pipeline.json`` beside the graph (``simplepose.detection.mmdeploy_sdk``), the preset of a
registry entry or of a graph known by its sha256 (``KNOWN_GRAPHS``), or the graph's own static
input size with YOLOX's preprocessing (raw BGR 0-255, pad 114).
"""

from __future__ import annotations

from dataclasses import dataclass

from simplepose.detection.box_ops import BoxFilter

CHANNEL_ORDERS = ("BGR", "RGB")
MAX_GRAPH_SIDE = 4096  # an input size beyond this is not a detector graph we can feed
COCO_MEAN_BGR = (103.53, 116.28, 123.675)
COCO_STD_BGR = (57.375, 57.12, 58.395)


@dataclass(frozen=True)
class End2EndSpec:
    """The preprocessing of one graph (from its mmdeploy pipeline).

    ``input_size`` (width, height) ``None``: read it from the graph. ``keep_ratio``: letterbox
    (aspect kept, image top-left, the rest ``pad_value``) or stretch. The graph input is
    ``(pixels in channel_order - mean) / std``. ``rules``: the thresholds the graph's own
    pipeline gives (``None``: ``BoxFilter``'s defaults); user options override them.
    """

    input_size: tuple[int, int] | None = None
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    channel_order: str = "BGR"
    pad_value: int = 114
    person_label: int = 0
    keep_ratio: bool = True
    rules: BoxFilter | None = None

    def __post_init__(self) -> None:
        if self.channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need three values each, std > 0")
        if self.input_size is not None and not all(
            0 < s <= MAX_GRAPH_SIDE for s in self.input_size
        ):
            raise ValueError(f"input size {self.input_size} out of range 1..{MAX_GRAPH_SIDE}")
        if not 0 <= self.pad_value <= 255:
            raise ValueError(f"pad value {self.pad_value} is not a pixel value 0..255")


# Input presets of registry entries (``KnownWeights.preset``) and known graphs.
RTMDET_NANO = End2EndSpec(input_size=(320, 320), mean=COCO_MEAN_BGR, std=COCO_STD_BGR)
DETECTOR_PRESETS: dict[str, End2EndSpec] = {
    "yolox-640": End2EndSpec(input_size=(640, 640)),
    "yolox-416": End2EndSpec(input_size=(416, 416)),
    "rtmdet-320": RTMDET_NANO,
}
# Graphs with a dynamic input size whose preprocessing is known from their provenance, by the
# sha256 of the .onnx file: no options needed for them (docs/detector.md lists them).
KNOWN_GRAPHS: dict[str, str] = {
    # OpenMMLab RTMDet-nano person (the graph of ../shared/models/rtmdet-nano-person)
    "4720eda18a18402e7b76d85827d4bc60fba18111fc0b74b559e4d24da9ddc3d2": "rtmdet-320",
    # end2end.onnx of rtmdet_nano_8xb32-100e_coco-obj365-person-05d8511e.zip, as pinned by a
    # public third-party record (docs/detector.md, "Verification")
    "8297e829ccc5590c8e2d32d5a211f322a0585fb7467eec85eb12c9525b0b95d6": "rtmdet-320",
}
