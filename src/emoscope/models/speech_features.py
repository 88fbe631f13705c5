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
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
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


_WINDOWS_LOCK = threading.Lock()
LLD_FRAME_S = 0.06  # eGeMAPS's longest descriptor frame (60 ms)


def egemaps_of_windows(signal: np.ndarray, rate: int,
                       spans: Sequence[tuple[int, int]]) -> np.ndarray | None:
    """(N, 88) eGeMAPSv02 functionals of the sample ranges ``spans`` of one signal, in one
    openSMILE run: the low-level descriptors are computed once over the whole signal and the
    functionals over each range (openSMILE's frame list), instead of one run per window. None
    when openSMILE does not return one row per range."""
    import warnings

    smile = _windows_smile()
    frames = ",".join(f"{a / rate:.5f}s-{b / rate:.5f}s" for a, b in spans)
    # openSMILE drops (or stretches) a range that reaches the end of the input; a short tail
    # of silence, one descriptor frame long, keeps the last range like the others
    padded = np.concatenate([np.asarray(signal, dtype=np.float32),
                             np.zeros(int(round(LLD_FRAME_S * rate)), dtype=np.float32)])
    with _WINDOWS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        smile.options["frameList"] = frames
        table = smile.process_signal(padded, rate)
    values = table.to_numpy(dtype=np.float64)
    return values if values.shape == (len(spans), 88) else None


@lru_cache(maxsize=1)
def _windows_smile():
    import os

    import opensmile

    include = os.path.join(os.path.dirname(opensmile.__file__), "core", "config", "shared",
                           "FrameModeFunctionalsMulti.conf.inc")
    return opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals,
                           options={"frameModeFunctionalsConf": include, "frameList": "0s-1s"})


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
