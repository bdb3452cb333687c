"""simplepose: SimpleBaselines human pose estimation on MindSpore.

Importing the package caps oneDNN at AVX2 unless the user chose otherwise: on AVX-512 CPUs
MindSpore's convolutions otherwise fall back to a reference kernel that is ~70x slower. The cap
only works if it is set before MindSpore runs its first op, so it happens here, at import time
of the core package that every entry point imports first.
"""

import os

CPU_ISA_ENV = "ONEDNN_MAX_CPU_ISA"
CPU_ISA_DEFAULT = "AVX2"

os.environ.setdefault(CPU_ISA_ENV, CPU_ISA_DEFAULT)

__version__ = "0.1.0"
