"""Balancing of multi-task training frames, as configuration: majority classes downsampled,
per-class boost factors, and disjoint subsets for the members of a bagged ensemble.

Every function returns row indices into the training set (a boosted row appears more than
once), so the decoded frames are never copied until a subset is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from emoscope.errors import UserError


@dataclass
class BalanceConfig:
    max_per_class: int = 0  # >0: keep at most this many frames of each expression class
    boost: dict[str, float] = field(default_factory=dict)  # expression or AU name -> factor
    subsets: int = 1  # >1: split the frames into this many disjoint subsets (ensemble members)
    subset_by: str = "frame"  # frame (stratified by expression) | video (whole videos)
    seed: int = 0


def downsample(expressions: np.ndarray, max_per_class: int,
               rng: np.random.Generator) -> np.ndarray:
    """Indices keeping at most ``max_per_class`` random frames per expression class; frames
    without an expression label (-1) are all kept (they carry VA / AU labels)."""
    expressions = np.asarray(expressions)
    if max_per_class <= 0:
        return np.arange(len(expressions))
    keep = [np.flatnonzero(expressions < 0)]
    for cls in np.unique(expressions[expressions >= 0]):
        rows = np.flatnonzero(expressions == cls)
        keep.append(rng.permutation(rows)[:max_per_class])
    return np.sort(np.concatenate(keep))


def boost_factors(expressions: np.ndarray, action_units: np.ndarray,
                  expression_labels: Sequence[str], au_labels: Sequence[str],
                  boost: dict[str, float]) -> np.ndarray:
    """Per-frame factor: the largest factor among its expression and its active AUs (1 when
    none is named). Unknown names fail, listing the known ones."""
    known = {**{name: ("expr", i) for i, name in enumerate(expression_labels)},
             **{name: ("au", i) for i, name in enumerate(au_labels)}}
    unknown = [name for name in boost if name not in known]
    if unknown:
        raise UserError(f"balance.boost: unknown label(s) {', '.join(unknown)}; known: "
                        f"{', '.join(known)}")
    factors = np.ones(len(expressions), np.float64)
    named = np.zeros(len(expressions), bool)
    for name, factor in boost.items():
        if factor < 0:
            raise UserError(f"balance.boost.{name}: factor must be >= 0, got {factor}")
        kind, index = known[name]
        hit = expressions == index if kind == "expr" else action_units[:, index] > 0.5
        factors[hit] = np.where(named[hit], np.maximum(factors[hit], factor), factor)
        named |= hit
    return factors


def apply_factors(index: np.ndarray, factors: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Each row ``floor(f)`` times plus once more with probability ``f - floor(f)``."""
    whole = np.floor(factors).astype(np.int64)
    extra = rng.random(len(factors)) < (factors - whole)
    counts = whole + extra
    return np.sort(np.repeat(np.asarray(index), counts))


def disjoint_subsets(expressions: np.ndarray, n: int, rng: np.random.Generator,
                     groups: Sequence[str] | None = None) -> list[np.ndarray]:
    """``n`` disjoint index sets covering every frame: stratified by expression (each class
    dealt round-robin), or whole ``groups`` (videos) dealt round-robin when given."""
    if n < 1:
        raise UserError(f"balance.subsets must be at least 1, got {n}")
    expressions = np.asarray(expressions)
    parts: list[list[int]] = [[] for _ in range(n)]
    if groups is not None:
        names = np.array(list(groups))
        unique = rng.permutation(np.unique(names))
        if len(unique) < n:
            raise UserError(f"balance.subsets={n} by video, but only {len(unique)} videos")
        for k, name in enumerate(unique):
            parts[k % n].extend(np.flatnonzero(names == name))
    else:
        offset = 0
        for cls in np.unique(expressions):
            rows = rng.permutation(np.flatnonzero(expressions == cls))
            for k, row in enumerate(rows):
                parts[(k + offset) % n].append(int(row))
            offset += len(rows)
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def training_indices(expressions: np.ndarray, action_units: np.ndarray,
                     expression_labels: Sequence[str], au_labels: Sequence[str],
                     cfg: BalanceConfig, member: int = 0,
                     videos: Sequence[str] | None = None) -> np.ndarray:
    """The rows member ``member`` trains on: its disjoint subset (when ``subsets > 1``), then
    downsampled and boosted as configured."""
    if not 0 <= member < max(1, cfg.subsets):
        raise UserError(f"ensemble member {member} outside 0..{cfg.subsets - 1}")
    if cfg.subset_by not in ("frame", "video"):
        raise UserError(f"balance.subset_by '{cfg.subset_by}'; known: frame, video")
    rng = np.random.default_rng(cfg.seed)
    index = np.arange(len(expressions))
    if cfg.subsets > 1:
        groups = videos if cfg.subset_by == "video" else None
        if cfg.subset_by == "video" and videos is None:
            raise UserError("balance.subset_by=video needs the frames' videos")
        index = disjoint_subsets(expressions, cfg.subsets, rng, groups)[member]
    member_rng = np.random.default_rng([cfg.seed, member])
    index = index[downsample(expressions[index], cfg.max_per_class, member_rng)]
    if cfg.boost:
        factors = boost_factors(expressions[index], action_units[index], expression_labels,
                                au_labels, cfg.boost)
        index = apply_factors(index, factors, member_rng)
    return index
