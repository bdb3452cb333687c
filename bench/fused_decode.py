"""Is decoding inside the graph faster end to end than heatmaps + NumPy decode?

Exports one network twice (flip test fused in both): graph -> heatmaps, then the NumPy codec
(quarter, the same refinement the fused graph does; DARK for reference), versus graph ->
keypoints (argmax + quarter inside the graph). The two graphs run in alternating order (A/B,
then B/A) so load from other processes hits both equally. Random weights: speed does not depend on their values.

Last line: one JSON object with median and minimum ms per batch for each path and their ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from _machine import machine

import simplepose  # noqa: F401  (oneDNN CPU cap before MindSpore)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="res50_256x192", help="preset (default: R50 256x192)")
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=4, help="pairs of A/B repetitions")
    args = parser.parse_args()

    import mindspore as ms
    import numpy as np

    from simplepose.config.loading import load_config
    from simplepose.export.exporter import export_model
    from simplepose.network.checkpoint import save_pose_checkpoint
    from simplepose.network.pose_net import PoseResNet
    from simplepose.pose.codec import HeatmapCodec
    from simplepose.runtime.model_loader import load_model

    cfg = load_config(args.config)
    m = cfg.model
    codec = HeatmapCodec(m.input_size, m.heatmap_size, m.sigma)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ms.set_seed(0)
        ckpt = save_pose_checkpoint(PoseResNet(m), Path(tmp) / "w.ckpt", cfg)
        export_model(ckpt, Path(tmp) / "heatmaps")
        export_model(ckpt, Path(tmp) / "keypoints", fuse_decode=True)
        heat, keys = load_model(Path(tmp) / "heatmaps"), load_model(Path(tmp) / "keypoints")
        for n in (int(b) for b in args.batches.split(",")):
            batch = np.random.default_rng(n).standard_normal((n, 3, *m.input_size[::-1]))
            batch = batch.astype(np.float32)
            heat(batch), keys(batch)  # warm-up (graph compile)
            times: dict[str, list[float]] = {
                "heatmaps+quarter": [],
                "heatmaps+dark": [],
                "fused": [],
            }
            decode_only: dict[str, list[float]] = {"quarter": [], "dark": []}
            for rep in range(2 * args.repeats):
                if rep % 2:  # fused graph first on odd repetitions: no order bias
                    t3 = time.perf_counter()
                    out = keys(batch)
                    t4 = time.perf_counter()
                t0 = time.perf_counter()
                hm = heat(batch)
                t1 = time.perf_counter()
                codec.decode(hm, "quarter")
                t2 = time.perf_counter()
                codec.decode(hm, "dark")
                t3b = time.perf_counter()
                if not rep % 2:
                    t3 = time.perf_counter()
                    out = keys(batch)
                    t4 = time.perf_counter()
                times["heatmaps+quarter"].append(t2 - t0)
                times["heatmaps+dark"].append((t1 - t0) + (t3b - t2))
                times["fused"].append(t4 - t3)
                decode_only["quarter"].append(t2 - t1)
                decode_only["dark"].append(t3b - t2)
            coords, scores = codec.decode(hm, "quarter")
            agree = float(np.abs(out[..., :2] - coords).max())
            med = {k: 1000 * statistics.median(v) for k, v in times.items()}
            row = {f"{k}_ms": round(v, 2) for k, v in med.items()}
            row.update({f"{k}_min_ms": round(1000 * min(v), 2) for k, v in times.items()})
            row.update(
                {
                    f"decode_{k}_ms": round(1000 * statistics.median(v), 3)
                    for k, v in decode_only.items()
                }
            )
            row["fused_vs_heatmaps_quarter"] = round(med["fused"] / med["heatmaps+quarter"], 3)
            row["fused_vs_heatmaps_quarter_min"] = round(
                min(times["fused"]) / min(times["heatmaps+quarter"]), 3
            )
            row["max_coord_diff_vs_codec_quarter"] = agree
            results[f"batch{n}"] = row
            print(f"batch {n}: {row}", flush=True)
    print(
        json.dumps(
            {
                "config": args.config,
                "repeats": args.repeats,
                "results": results,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
