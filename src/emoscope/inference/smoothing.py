"""Per-track temporal smoothing of probability vectors: EMA or a moving window."""

from __future__ import annotations

from collections import deque
from typing import Literal

import numpy as np

SmoothMethod = Literal["ema", "window"]


def ema_alpha(k: int) -> float:
    """Weight of the newest value for an EMA spanning ``k`` frames (pandas' ``span``)."""
    return 2.0 / (k + 1.0)


def smooth_series(values: np.ndarray, k: int, method: SmoothMethod = "ema") -> np.ndarray:
    """Smooth a (T, C) series along time, as ``TrackSmoother`` does online for one track."""
    values = np.asarray(values, dtype=np.float64)
    if k <= 1 or len(values) == 0:
        return values.copy()
    out = np.empty_like(values)
    if method == "ema":
        alpha = ema_alpha(k)
        state = values[0]
        for t, row in enumerate(values):
            state = row if t == 0 else alpha * row + (1.0 - alpha) * state
            out[t] = state
        return out
    cumulative = np.cumsum(np.vstack([np.zeros((1,) + values.shape[1:]), values]), axis=0)
    for t in range(len(values)):
        start = max(0, t + 1 - k)
        out[t] = (cumulative[t + 1] - cumulative[start]) / (t + 1 - start)
    return out


class TrackSmoother:
    """Online smoothing keyed by track id; ``k <= 1`` passes values through unchanged."""

    def __init__(self, k: int = 1, method: SmoothMethod = "ema"):
        if method not in ("ema", "window"):
            raise ValueError(f"smoothing method must be ema or window, got '{method}'")
        self.k = max(1, int(k))
        self.method = method
        self._ema: dict[object, np.ndarray] = {}
        self._windows: dict[object, deque[np.ndarray]] = {}

    @property
    def enabled(self) -> bool:
        return self.k > 1

    def update(self, key: object, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if not self.enabled:
            return values
        if self.method == "ema":
            previous = self._ema.get(key)
            alpha = ema_alpha(self.k)
            state = values if previous is None else alpha * values + (1 - alpha) * previous
            self._ema[key] = state
            return state
        window = self._windows.setdefault(key, deque(maxlen=self.k))
        window.append(values)
        return np.mean(window, axis=0)

    def forget(self, keep: set[object]) -> None:
        """Drop the state of tracks not in ``keep`` (tracks that ended)."""
        for table in (self._ema, self._windows):
            for key in [k for k in table if k not in keep]:
                del table[key]

    def reset(self) -> None:
        self._ema.clear()
        self._windows.clear()
