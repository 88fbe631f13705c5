"""Bilinear resizing in numpy with PyTorch's conventions, so evaluation without torch feeds a
model the same inputs as ``F.interpolate(x, size, mode="bilinear", align_corners=False,
antialias=<shrinking>)`` does (``data/augment.py``'s evaluation transform): half-pixel centres,
edges clamped, and when shrinking a triangle filter widened by the scale (antialiasing)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=32)
def bilinear_weights(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) float32 matrix: each output sample as a weighted sum of inputs."""
    scale = size_in / size_out
    weights = np.zeros((size_out, size_in), dtype=np.float64)
    if scale <= 1.0:  # enlarging (or equal): plain bilinear between the two nearest inputs
        for i in range(size_out):
            source = max((i + 0.5) * scale - 0.5, 0.0)
            low = min(int(np.floor(source)), size_in - 1)
            high = min(low + 1, size_in - 1)
            frac = source - low
            weights[i, low] += 1.0 - frac
            weights[i, high] += frac
        return weights.astype(np.float32)
    for i in range(size_out):  # shrinking: the triangle filter spans `scale` inputs each side
        centre = scale * (i + 0.5)
        first = max(int(centre - scale + 0.5), 0)
        last = min(int(centre + scale + 0.5), size_in)
        taps = np.arange(first, last)
        tap_weights = np.maximum(0.0, 1.0 - np.abs((taps - centre + 0.5) / scale))
        weights[i, first:last] = tap_weights / tap_weights.sum()
    return weights.astype(np.float32)


def resize_bilinear(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 (N, C, H, W) -> (N, C, height, width)."""
    rows = bilinear_weights(images.shape[2], height)
    cols = bilinear_weights(images.shape[3], width)
    return np.einsum("hy,ncyx,wx->nchw", rows, images.astype(np.float32), cols,
                     optimize=True).astype(np.float32)
