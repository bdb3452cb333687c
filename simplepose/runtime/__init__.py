"""Running exported models: which backend serves a model directory, static batch buckets, CPU
thread plans, the ONNX Runtime model, and (``device``, ``model_loader``) the MindSpore runtime."""
