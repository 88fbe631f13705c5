"""The PNGs of the multi-label evaluation report: per-class AP bars, PR curves with the
operating point of each class's threshold, and the label co-occurrence heatmap."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.evaluation.plots import _pyplot, _save


def plot_per_class_ap(per_class: dict[str, float | None], path: Path) -> Path:
    plt = _pyplot()
    names = list(per_class)
    values = [100 * (v or 0.0) for v in per_class.values()]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(names) + 1.2))
    ax.barh(range(len(names)), values, color="tab:blue")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("average precision (%)")
    ax.set_xlim(0, 100)
    for y, (name, value) in enumerate(zip(names, values, strict=True)):
        ax.text(value, y, " n/a" if per_class[name] is None else f" {value:.1f}",
                va="center", fontsize=7)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_pr_curves(curves: Sequence[tuple[np.ndarray, ...]], per_class: dict[str, Any],
                   labels: Sequence[str], scores: np.ndarray, targets: np.ndarray,
                   thresholds: np.ndarray, path: Path) -> Path:
    """One small precision-recall panel per class; the dot is the validation threshold."""
    plt = _pyplot()
    n = len(labels)
    cols = min(6, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.0 * rows), squeeze=False)
    y = np.asarray(targets) > 0.5
    for c, ax in enumerate(axes.flat):
        if c >= n:
            ax.axis("off")
            continue
        precision, recall, _ = curves[c]
        ap = per_class.get(labels[c])
        if y[:, c].any():
            ax.step(recall, precision, where="post", color="tab:blue", linewidth=1)
            chosen = scores[:, c] >= thresholds[c]
            tp = float((chosen & y[:, c]).sum())
            ax.plot(tp / y[:, c].sum(), tp / max(chosen.sum(), 1), "o", color="tab:orange",
                    markersize=3)
        ax.set_title(f"{labels[c][:14]} " + ("n/a" if ap is None else f"{100 * ap:.0f}"),
                     fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=5)
    fig.suptitle("precision (y) vs recall (x); title: AP %; dot: validation threshold",
                 fontsize=8)
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_cooccurrence(counts: np.ndarray, labels: Sequence[str], path: Path) -> Path:
    """Persons per label pair; the colour is log-scaled (counts span orders of magnitude)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(0.32 * len(labels) + 2.5, 0.32 * len(labels) + 2))
    image = ax.imshow(np.log10(1 + counts), cmap="viridis")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    if len(labels) <= 30:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if counts[i, j]:
                    ax.text(j, i, str(int(counts[i, j])), ha="center", va="center",
                            fontsize=5, color="white")
    fig.colorbar(image, ax=ax, label="log10(1 + persons)", shrink=0.7)
    ax.set_title("label co-occurrence (diagonal: persons per label)")
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
