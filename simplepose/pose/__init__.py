"""Pose maths (NumPy/OpenCV, no MindSpore): keypoint metadata, box/crop geometry, the heatmap
codec, person rescoring and OKS NMS, and the image -> persons pipeline."""
