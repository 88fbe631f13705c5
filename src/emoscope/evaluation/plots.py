"""Training curves and confusion matrices as PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    return path


def _series(history: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in history:
        value = row.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            xs.append(float(row.get("epoch", len(xs))))
            ys.append(float(value))
    return xs, ys


def plot_history(history: list[dict[str, Any]], path: str | Path) -> Path | None:
    """Loss and accuracy/F1/mAP per epoch from per-epoch metric rows (``train/loss``, ``val/...``).

    Rows without a metric are skipped; nothing is written when no row holds a metric.
    """
    keys = sorted({k for row in history for k in row if k not in ("epoch", "step")})
    loss_keys = [k for k in keys if k.endswith("loss")]
    score_keys = [k for k in keys if k.endswith(("accuracy", "accuracy_flip", "f1", "mAP"))]
    if not loss_keys and not score_keys:
        log.info("no metrics to plot in the history")
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, group, title in ((axes[0], loss_keys, "loss"), (axes[1], score_keys, "score")):
        for key in group:
            xs, ys = _series(history, key)
            if xs:
                ax.plot(xs, ys, marker="o", markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_confusion(
    matrix: np.ndarray | Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | Path,
    title: str = "confusion matrix",
    normalise: bool = True,
) -> Path:
    """Rows = true class, columns = predicted; cells show counts and (optionally) row shares."""
    counts = np.asarray(matrix, dtype=np.int64)
    if counts.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix {counts.shape} does not fit {len(labels)} labels")
    rows = counts.sum(1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    plt = _pyplot()
    size = max(4.0, 0.7 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shares if normalise else counts, cmap="Blues",
                      vmin=0, vmax=1 if normalise else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            text = f"{counts[i, j]}\n{shares[i, j]:.0%}" if normalise else str(counts[i, j])
            dark = (shares if normalise else counts / max(1, counts.max()))[i, j] > 0.5
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
