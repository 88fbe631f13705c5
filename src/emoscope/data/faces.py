"""In-memory face datasets: decoded once into uint8 arrays and cached as .npz."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoscope.labels import LabelSpace
from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)


@dataclass
class FaceArrays:
    """Decoded face images with labels.

    images: (N, H, W) grey or (N, H, W, 3) RGB uint8. labels: (N,) int64 class indices.
    soft_labels: optional (N, C) float32 target distributions (e.g. FER+ votes).
    """

    images: np.ndarray
    labels: np.ndarray
    label_space: LabelSpace
    sources: list[str] = field(default_factory=list)
    soft_labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def subset(self, index: np.ndarray) -> FaceArrays:
        return FaceArrays(
            self.images[index],
            self.labels[index],
            self.label_space,
            [self.sources[i] for i in index] if self.sources else [],
            None if self.soft_labels is None else self.soft_labels[index],
        )

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.label_space.num_classes)


def cache_key(*parts: object) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def save_cache(arrays: FaceArrays, path: Path) -> None:
    payload = {"images": arrays.images, "labels": arrays.labels,
               "sources": np.array(arrays.sources)}
    if arrays.soft_labels is not None:
        payload["soft_labels"] = arrays.soft_labels
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **payload)


def load_cache(path: Path, label_space: LabelSpace) -> FaceArrays | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            soft = data["soft_labels"] if "soft_labels" in data.files else None
            return FaceArrays(
                data["images"], data["labels"], label_space, list(data["sources"]), soft
            )
    except (OSError, ValueError, KeyError) as err:
        log.warning("ignoring unreadable cache %s (%s)", path, err)
        return None
