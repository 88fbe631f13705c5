"""In-memory speech datasets: every clip decoded once into a log-mel spectrogram, cached as .npz.

Spectrograms of different lengths are padded with the silence floor to the longest clip; the
true length of each is kept, so training can crop inside the speech and evaluation can centre.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoscope.data.audio import LOG_FLOOR, AudioFrontEnd, fit_frames, load_audio, log_mel
from emoscope.data.faces import cache_key
from emoscope.labels import LabelSpace
from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)


@dataclass
class SpeechArrays:
    """Log-mel spectrograms with labels.

    features: (N, n_mels, T) float32 padded with log(LOG_FLOOR); lengths: (N,) frames;
    labels: (N,) int64; speakers: (N,) speaker ids (RAVDESS actors, CREMA-D actors).
    """

    features: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    label_space: LabelSpace
    front_end: AudioFrontEnd
    sources: list[str] = field(default_factory=list)
    speakers: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __post_init__(self) -> None:
        if not len(self.features) == len(self.lengths) == len(self.labels):
            raise ValueError(f"{len(self.features)} spectrograms, {len(self.lengths)} lengths, "
                             f"{len(self.labels)} labels")

    def subset(self, index: np.ndarray) -> SpeechArrays:
        index = np.asarray(index, dtype=np.int64)
        return SpeechArrays(
            self.features[index], self.lengths[index], self.labels[index], self.label_space,
            self.front_end, [self.sources[i] for i in index] if self.sources else [],
            None if self.speakers is None else self.speakers[index],
        )

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.label_space.num_classes)

    def clip(self, index: int) -> np.ndarray:
        """Clip ``index``'s spectrogram without the padding: (n_mels, its own frames)."""
        return self.features[index, :, : int(self.lengths[index])]

    def centred_crops(self, frames: int) -> list[np.ndarray]:
        """Every clip's centred ``frames`` (padded with the silence floor when shorter): the
        input each clip is scored on."""
        return [fit_frames(self.clip(i), frames) for i in range(len(self))]


def compute_spectrograms(paths: Sequence[Path], front: AudioFrontEnd,
                         progress: Callable[[int], None] | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``paths`` -> (padded (N, n_mels, T_max) float32, lengths (N,))."""
    specs = []
    for i, path in enumerate(paths):
        wave, _ = load_audio(path, front.sample_rate)
        specs.append(log_mel(wave, front))
        if progress is not None:
            progress(i + 1)
    lengths = np.array([s.shape[1] for s in specs], dtype=np.int64)
    out = np.full((len(specs), front.n_mels, int(lengths.max(initial=1))), np.log(LOG_FLOOR),
                  dtype=np.float32)
    for i, spec in enumerate(specs):
        out[i, :, : spec.shape[1]] = spec
    return out, lengths


def spectrogram_cache(cache_dir: str | Path | None, prefix: str, paths: Sequence[Path],
                      front: AudioFrontEnd) -> Path | None:
    """Cache file keyed by the files (names, sizes, mtimes) and the front-end settings."""
    if cache_dir is None:
        return None
    stamps = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    key = cache_key(prefix, stamps, sorted(front.to_dict().items()))
    return Path(cache_dir) / f"{prefix}-{key}.npz"


def load_spectrograms(paths: Sequence[Path], front: AudioFrontEnd,
                      cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """``compute_spectrograms`` through an .npz cache (float16 on disk)."""
    if cache is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as data:
                return data["features"].astype(np.float32), data["lengths"]
        except (OSError, ValueError, KeyError) as err:
            log.warning("ignoring unreadable cache %s (%s)", cache, err)
    log.info("computing log-mel spectrograms of %d clips", len(paths))
    features, lengths = compute_spectrograms(paths, front)
    features = features.astype(np.float16).astype(np.float32)  # as a cached copy reads back
    if cache is not None:
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, features=features.astype(np.float16), lengths=lengths)
    return features, lengths
