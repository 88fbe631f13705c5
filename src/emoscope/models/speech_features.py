"""Clip-level speech features for linear heads: pooled GE2E encoder states (numpy) and
openSMILE functionals, computed once per clip and cached as .npz.

Feature sets (``FEATURE_SETS``):
- ``ge2e_l2``: mean + std over time of the encoder's second LSTM layer (512 values);
- ``ge2e_l12``: layers 1 and 2 (1,024 values);
- ``egemaps``: the 88 eGeMAPSv02 functionals of the waveform (openSMILE);
- ``ge2e_l2+egemaps``: both (600 values).
Each GE2E set is computed on the clip's centred ``crop_seconds`` (0: the whole clip).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from emoscope.data.audio import AudioFrontEnd, fit_frames
from emoscope.errors import UserError
from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)

GE2E_LAYERS = {"ge2e_l2": (2,), "ge2e_l12": (1, 2)}
FEATURE_SETS = ("ge2e_l2", "ge2e_l12", "egemaps", "ge2e_l2+egemaps")


def feature_parts(feature_set: str) -> list[str]:
    """The basic sets a (possibly '+'-joined) feature set is made of."""
    parts = feature_set.split("+")
    unknown = [p for p in parts if p not in GE2E_LAYERS and p != "egemaps"]
    if unknown or feature_set not in FEATURE_SETS:
        raise UserError(f"unknown speech feature set '{feature_set}'; known: "
                        f"{', '.join(FEATURE_SETS)}")
    return parts


def ge2e_features(encoder, log_mel: np.ndarray, layers: Sequence[int],
                  frames: int = 0) -> np.ndarray:
    """(D,) pooled encoder features of one (n_mels, T) log-mel (its centred ``frames`` when
    > 0)."""
    clip = fit_frames(log_mel, frames) if frames > 0 else log_mel
    return encoder.pooled(clip[None], layers)[0]


def egemaps_vector(wave: np.ndarray, rate: int) -> np.ndarray:
    """(88,) eGeMAPSv02 functionals of one waveform."""
    import warnings

    from emoscope.data.audio import egemaps_functionals

    with warnings.catch_warnings():  # a window too short for a functional gives NaN there,
        warnings.simplefilter("ignore", UserWarning)  # which the head reads as the mean
        values = egemaps_functionals(wave, rate)
    return np.array(list(values.values()), dtype=np.float64)


def clip_feature_matrix(parts: Sequence[Callable[[int], np.ndarray]], count: int) -> np.ndarray:
    """(count, D): each clip's part vectors concatenated."""
    rows = [np.concatenate([part(i) for part in parts]) for i in range(count)]
    return np.stack(rows).astype(np.float64)


def feature_cache_path(cache_dir: str | Path, feature_set: str, sources: Sequence[str],
                       front_end: AudioFrontEnd, crop_seconds: float,
                       encoder_tag: str = "") -> Path:
    """.npz path keyed by the feature set, the clips, the front end and the encoder."""
    parts = [feature_set, list(sources), front_end.to_dict(), crop_seconds]
    key = json.dumps(parts + [encoder_tag] if encoder_tag else parts)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{feature_set.replace('+', '_')}-{digest}.npz"


def cached_features(path: Path | None, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` through an .npz cache at ``path`` (None: no cache)."""
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return data["features"]
    features = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, features=features)
    return features
