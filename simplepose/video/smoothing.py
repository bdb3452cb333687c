"""One-euro filter (Casiez, Roussel and Vogel, CHI 2012) for keypoint jitter. NumPy only.

A low-pass filter whose cutoff rises with the signal's speed: slow joints are smoothed hard
(no jitter when standing still), fast joints lightly (little lag when moving). Vectorised over
any array shape, e.g. one person's ``(K, 2)`` keypoint coordinates.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    """Smoothing factor of an exponential filter with ``cutoff`` Hz at time step ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Args:
    min_cutoff: cutoff (Hz) when the signal is still; lower = smoother, more lag.
    beta: how fast the cutoff rises with speed (per unit/s); higher = less lag when moving.
    d_cutoff: cutoff (Hz) of the speed estimate itself.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.02, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(
                f"need min_cutoff > 0, d_cutoff > 0, beta >= 0; got {min_cutoff}, {d_cutoff}, {beta}"
            )
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = None
        self._t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filtered value of ``x`` observed at time ``t`` seconds (strictly increasing)."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._dx is None or self._t is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if dt <= 0:
            raise ValueError(f"timestamps must increase: {t} after {self._t}")
        dx = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        a = _alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.copy()
