"""ADASYN resampling in the feature space of frozen backbones (imbalanced-learn's ADASYN).

EMOTIC is multi-label, ADASYN is not. Strategy used here: **per label, one-vs-rest**. For each
category whose positive count is below a target, ADASYN runs on the binary problem "this label
vs the rest" over the concatenated stream features, and generates new positives by
interpolating between real positives of that label. A synthetic vector takes every other
label, the VAD ratings and the stream mask from its nearest real positive of that label (so
co-occurring labels stay plausible), with the resampled label set to 1. Streams masked in
that neighbour (a missing face) are zeroed in the synthetic vector as they are in real ones.

Levels: ``none``; ``mini`` raises every label below half the median positive count (over the
labels that have positives) to that half; ``full`` raises every label below the median to the
median. Labels with fewer than two positives cannot be interpolated and are left out (listed
in the counts report). Synthetic rows are added to the training set only: they train the
fusion and the heads; validation and test stay real.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emoscope.errors import UserError
from emoscope.utils.files import atomic_write_json

log = logging.getLogger(__name__)

LEVELS: dict[str, float] = {"none": 0.0, "mini": 0.5, "full": 1.0}  # x median positive count
STRATEGY = ("per-label one-vs-rest ADASYN up to {fraction} x the median positive count; "
            "other labels, VAD and stream mask from the nearest real positive")
SYNTHETIC_INDEX = -1  # the ``index`` of a synthetic row (real rows keep theirs)


def label_targets(counts: np.ndarray, level: str) -> np.ndarray:
    """Wanted positives per label (at least the current count) for a resampling level."""
    if level not in LEVELS:
        raise UserError(f"unknown resampling level '{level}'; known: {', '.join(LEVELS)}")
    counts = np.asarray(counts, dtype=np.int64)
    present = counts[counts > 0]
    if LEVELS[level] == 0 or present.size == 0:
        return counts.copy()
    wanted = int(np.floor(LEVELS[level] * float(np.median(present))))
    return np.where(counts > 0, np.maximum(counts, wanted), 0)  # nothing to grow from 0


def _adasyn_one_label(features: np.ndarray, positive: np.ndarray, target: int, seed: int,
                      n_neighbors: int) -> np.ndarray:
    """New positive feature rows for one label (empty when ADASYN cannot make any)."""
    from imblearn.over_sampling import ADASYN

    count = int(positive.sum())
    sampler = ADASYN(sampling_strategy={1: target}, n_neighbors=min(n_neighbors, count - 1),
                     random_state=seed)
    resampled, _ = sampler.fit_resample(features, positive.astype(np.int64))
    return resampled[len(features):]


def adasyn_multilabel(features: np.ndarray, categories: np.ndarray, level: str,
                      labels: Sequence[str] | None = None, seed: int = 0,
                      n_neighbors: int = 5) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Synthetic rows for (N, D) features and (N, C) 0/1 categories.

    Returns ``(new_features (M, D), parents (M,), counts)``: ``parents`` indexes the nearest
    real positive whose other labels a synthetic row takes, and ``counts`` reports positives
    per label before and after, the targets and the labels left out with the reason.
    """
    from sklearn.neighbors import NearestNeighbors

    y = np.asarray(categories) > 0.5
    labels = list(labels) if labels is not None else [str(c) for c in range(y.shape[1])]
    before = y.sum(0).astype(np.int64)
    targets = label_targets(before, level)
    new_rows, parents, skipped = [], [], {}
    new_labels = np.zeros(y.shape[1], dtype=np.int64)
    for c in np.flatnonzero(targets > before):
        if before[c] < 2:
            skipped[labels[c]] = f"{before[c]} positive(s): nothing to interpolate"
            continue
        try:
            rows = _adasyn_one_label(features, y[:, c], int(targets[c]), seed + int(c),
                                     n_neighbors)
        except (RuntimeError, ValueError) as err:  # ADASYN's "cannot sample here" cases
            skipped[labels[c]] = str(err).split(".")[0]
            continue
        if len(rows) == 0:
            continue
        positives = np.flatnonzero(y[:, c])
        nearest = NearestNeighbors(n_neighbors=1).fit(features[positives])
        parent = positives[nearest.kneighbors(rows, return_distance=False)[:, 0]]
        new_rows.append(rows)
        parents.append(parent)
        new_labels[c] += len(rows)
    width = features.shape[1]
    new_features = np.concatenate(new_rows) if new_rows else np.zeros((0, width), features.dtype)
    parent_index = np.concatenate(parents) if parents else np.zeros(0, np.int64)
    after = before + y[parent_index].astype(np.int64).sum(0)  # parents carry the label
    counts = {"level": level, "strategy": STRATEGY.format(fraction=LEVELS[level]),
              "persons_before": int(len(y)), "persons_after": int(len(y) + len(new_features)),
              "targets": dict(zip(labels, targets.tolist(), strict=True)),
              "before": dict(zip(labels, before.tolist(), strict=True)),
              "after": dict(zip(labels, after.tolist(), strict=True)),
              "generated": dict(zip(labels, new_labels.tolist(), strict=True)),
              "skipped": skipped}
    return new_features, parent_index, counts


def resample_cached(dataset: Any, level: str, seed: int = 0,
                    labels: Sequence[str] | None = None) -> Any:
    """A ``CachedFeatures`` with ADASYN's synthetic persons appended (``level`` != none).

    The result carries the counts report in ``.resampling``.
    """
    from emoscope.training.feature_cache import CachedFeatures

    streams = list(dataset.features)
    widths = [dataset.features[s].shape[1] for s in streams]
    flat = torch.cat([dataset.features[s].float() for s in streams], dim=1).numpy()
    targets = dataset.targets
    categories = targets["categories"].numpy()
    new, parents, counts = adasyn_multilabel(flat, categories, level, labels, seed)
    log.info("ADASYN %s: %d -> %d training persons", level, counts["persons_before"],
             counts["persons_after"])
    mask = targets["stream_mask"][parents]
    features: dict[str, torch.Tensor] = {}
    start = 0
    for stream, width in zip(streams, widths, strict=True):
        block = torch.from_numpy(np.ascontiguousarray(new[:, start:start + width]))
        column = ("context", "body", "face").index(stream)
        block = block * mask[:, column:column + 1]  # a neighbour's missing stream stays 0
        features[stream] = torch.cat([dataset.features[stream].float(), block])
        start += width
    synthetic = {
        "categories": targets["categories"][parents].clone(),
        "vad": targets["vad"][parents].clone(),
        "stream_mask": mask,
        "index": torch.full((len(parents),), SYNTHETIC_INDEX, dtype=targets["index"].dtype),
    }
    _set_resampled_labels(synthetic["categories"], counts, labels or
                          [str(c) for c in range(categories.shape[1])])
    merged = {key: torch.cat([value, synthetic[key]]) for key, value in targets.items()}
    resampled = CachedFeatures(features, merged)
    resampled.resampling = counts
    return resampled


def _set_resampled_labels(categories: torch.Tensor, counts: dict[str, Any],
                          labels: Sequence[str]) -> None:
    """Row blocks are in label order: set each block's own label to 1."""
    start = 0
    for c, name in enumerate(labels):
        n = counts["generated"][name]
        categories[start:start + n, c] = 1.0
        start += n


def write_resampling_report(dataset: Any, folder: str | Path) -> Path | None:
    """``resampling.json`` (class counts before and after) when ``dataset`` was resampled."""
    counts = getattr(dataset, "resampling", None)
    if counts is None:
        return None
    path = Path(folder) / "resampling.json"
    atomic_write_json(path, counts)
    return path
