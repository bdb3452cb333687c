"""MindSpore code of the core: the network, its checkpoints and the inference runtime.

This is the only part of ``simplepose`` that imports MindSpore; geometry, codec and pipeline are
NumPy/OpenCV only.
"""

import simplepose  # noqa: F401  (sets the oneDNN CPU cap before MindSpore loads)
