"""Augmentations of log-mel spectrograms that stand for a change of speaker.

``speed_perturb`` gives the log-mel of the same clip played ``factor`` times faster (Ko et al.
2015, "Audio augmentation for speech recognition"): every frequency, pitch and formants alike,
is multiplied by ``factor`` and the duration divided by it, which is about the spread of vocal
tract lengths and speaking rates between adults. Working on the cached spectrogram instead of
the waveform costs two interpolations and no STFT.
"""

from __future__ import annotations

import numpy as np

from emoscope.data.audio import AudioFrontEnd, hz_to_mel, mel_to_hz


def mel_centres_hz(front: AudioFrontEnd) -> np.ndarray:
    """Centre frequency of each mel band of ``front`` (Slaney scale, as ``mel_filterbank``)."""
    edges = np.linspace(hz_to_mel(front.fmin), hz_to_mel(front.fmax), front.n_mels + 2)
    return mel_to_hz(edges[1:-1])


def _interpolate_rows(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (axis 0) at fractional ``positions``, clamped to the first/last row."""
    positions = np.clip(positions, 0.0, x.shape[0] - 1)
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, x.shape[0] - 1)
    weight = (positions - low).astype(np.float32).reshape(-1, *([1] * (x.ndim - 1)))
    return x[low] * (1.0 - weight) + x[high] * weight


def speed_perturb(spectrogram: np.ndarray, factor: float, front: AudioFrontEnd) -> np.ndarray:
    """(n_mels, T) log-mel -> (n_mels, round(T / factor)) log-mel of the clip sped up by
    ``factor`` (> 1 faster and higher, < 1 slower and lower)."""
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    if spectrogram.shape[0] != front.n_mels:
        raise ValueError(f"expected {front.n_mels} mel bands, got {spectrogram.shape[0]}")
    centres_hz = mel_centres_hz(front)
    centres = hz_to_mel(centres_hz)
    step = centres[1] - centres[0] if len(centres) > 1 else 1.0
    # output band i holds what the slower original had at frequency centre_i / factor
    rows = (hz_to_mel(centres_hz / factor) - centres[0]) / step
    warped = _interpolate_rows(spectrogram, rows)
    length = spectrogram.shape[1]
    frames = max(1, int(round(length / factor)))
    columns = _interpolate_rows(warped.T, np.arange(frames) * factor).T
    return np.ascontiguousarray(columns, dtype=np.float32)


def check_speed_spread(spread: float) -> None:
    if not 0.0 <= spread < 0.5:
        raise ValueError(f"speed perturbation spread must be in [0, 0.5), got {spread}")


def random_speed(rng: np.random.Generator, spread: float) -> float:
    """A speed factor drawn uniformly from [1 - spread, 1 + spread]."""
    check_speed_spread(spread)
    return float(rng.uniform(1.0 - spread, 1.0 + spread))
