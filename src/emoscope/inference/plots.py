"""Plots of a result table: emotion timeline per track, label distribution, track heatmap."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emoscope.inference.smoothing import SmoothMethod, smooth_series
from emoscope.palette import label_colours
from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)

MAX_TIMELINE_TRACKS = 6
MAX_HEATMAP_TRACKS = 40


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _pyplot().close(figure)
    return path


def plot_timeline(table: pd.DataFrame, labels: Sequence[str], path: Path, smooth_k: int = 5,
                  method: SmoothMethod = "ema", title: str = "") -> Path | None:
    """One panel per track (longest first): raw probabilities faint, smoothed solid."""
    if table.empty or table.groupby(["source", "track_id"]).size().max() < 2:
        return None
    plt = _pyplot()
    groups = sorted(table.groupby(["source", "track_id"]), key=lambda g: -len(g[1]))
    groups = groups[:MAX_TIMELINE_TRACKS]
    colours = label_colours(labels)
    figure, axes = plt.subplots(len(groups), 1, figsize=(10, 2.4 * len(groups) + 0.6),
                                sharex=True, squeeze=False)
    for axis, ((source, track_id), rows) in zip(axes[:, 0], groups, strict=True):
        rows = rows.sort_values("time_s")
        raw = rows[[f"p_{label}" for label in labels]].to_numpy(dtype=float)
        smooth = smooth_series(raw, max(smooth_k, 1), method)
        for i, label in enumerate(labels):
            axis.plot(rows["time_s"], raw[:, i], color=colours[label], alpha=0.25, lw=0.8)
            axis.plot(rows["time_s"], smooth[:, i], color=colours[label], lw=1.6, label=label)
        axis.set_ylim(0, 1)
        axis.set_ylabel(f"{Path(str(source)).name} #{track_id}", fontsize=8)
        axis.grid(alpha=0.3)
    axes[0, 0].legend(ncol=min(len(labels), 8), fontsize=8, loc="upper center",
                      bbox_to_anchor=(0.5, 1.45 if len(groups) == 1 else 1.35))
    axes[-1, 0].set_xlabel("time (s)")
    figure.suptitle(title or "emotion timeline (faint: raw, solid: smoothed)", y=1.0)
    return _save(figure, path)


def plot_distribution(table: pd.DataFrame, labels: Sequence[str], path: Path,
                      title: str = "") -> Path:
    """Share of analysed faces per top label."""
    plt = _pyplot()
    counts = table["top_label"].value_counts() if not table.empty else pd.Series(dtype=int)
    shares = np.array([counts.get(label, 0) for label in labels], dtype=float)
    shares = shares / shares.sum() if shares.sum() else shares
    colours = label_colours(labels)
    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.bar(list(labels), shares, color=[colours[label] for label in labels])
    axis.set_ylabel("share of faces")
    axis.set_ylim(0, 1)
    axis.set_title(title or f"top label over {len(table)} faces")
    axis.tick_params(axis="x", rotation=30)
    return _save(figure, path)


def plot_heatmap(table: pd.DataFrame, labels: Sequence[str], path: Path,
                 title: str = "") -> Path:
    """Mean probability per track (rows, the longest 40) and label (columns)."""
    plt = _pyplot()
    columns = [f"p_{label}" for label in labels]
    if table.empty:
        means = pd.DataFrame(np.zeros((0, len(labels))), columns=columns)
    else:
        groups = table.groupby(["source", "track_id"], sort=False)
        longest = groups.size().sort_values(ascending=False).index[:MAX_HEATMAP_TRACKS]
        means = groups[columns].mean().loc[longest].sort_index()
    names = [f"{Path(str(s)).name} #{t}" for s, t in means.index] if len(means) else []
    figure, axis = plt.subplots(figsize=(1.0 * len(labels) + 2.5, 0.45 * max(len(means), 1) + 1.6))
    data = means.to_numpy() if len(means) else np.zeros((1, len(labels)))
    image = axis.imshow(data, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    axis.set_xticks(range(len(labels)), labels, rotation=30)
    axis.set_yticks(range(len(names)), names)
    for (row, col), value in np.ndenumerate(data if len(means) else np.zeros((0, 0))):
        axis.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                  color="white" if value < 0.5 else "black")
    figure.colorbar(image, ax=axis, label="mean probability")
    axis.set_title(title or "mean probability per track")
    return _save(figure, path)


def plot_results(table: pd.DataFrame, labels: Sequence[str], out_dir: Path, stem: str,
                 smooth_k: int = 5, method: SmoothMethod = "ema") -> list[Path]:
    """All plots for one result table; returns the files written."""
    written = []
    timeline = plot_timeline(table, labels, out_dir / f"{stem}_timeline.png", smooth_k, method)
    if timeline is not None:
        written.append(timeline)
    written.append(plot_distribution(table, labels, out_dir / f"{stem}_distribution.png"))
    written.append(plot_heatmap(table, labels, out_dir / f"{stem}_heatmap.png"))
    return written
