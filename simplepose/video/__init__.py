"""Video: bounded frame sources, optical-flow motion, the pose tracker, keypoint smoothing and
the tracked per-frame pipeline."""
