"""Face, voice and fused emotion timelines of one video (or the voice alone) in one figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emoscope.inference.plots import _pyplot, _save
from emoscope.palette import label_colours


def _panel(axis, times: np.ndarray, probs: np.ndarray, labels: list[str], colours: dict,
           title: str) -> None:
    for i, label in enumerate(labels):
        axis.plot(times, probs[:, i], color=colours[label], lw=1.5, label=label)
    axis.set_ylim(0, 1)
    axis.set_ylabel("probability")
    axis.set_title(title, fontsize=10, loc="left")
    axis.legend(loc="upper right", fontsize=7, ncol=4)


def plot_av_timelines(face_table: pd.DataFrame | None, voice: pd.DataFrame,
                      fused: pd.DataFrame | None, face_labels: list[str],
                      voice_labels: list[str], path: Path) -> Path | None:
    """Stacked panels: face (mean over the faces of each frame), voice (per window, at its
    centre; silent windows left blank) and fused (per window); panels without data are left
    out."""
    panels = []
    if face_table is not None and not face_table.empty and face_labels:
        columns = [f"p_{label}" for label in face_labels]
        per_time = face_table.groupby("time_s")[columns].mean().sort_index()
        panels.append(("face", per_time.index.to_numpy(float), per_time.to_numpy(float),
                       face_labels))
    if voice is not None and not voice.empty:
        centres = ((voice["start_s"] + voice["end_s"]) / 2).to_numpy(float)
        probs = voice[[f"p_{x}" for x in voice_labels]].to_numpy(float, copy=True)
        title = "voice"
        if "voiced" in voice and not voice["voiced"].all():
            probs[~voice["voiced"].to_numpy(bool)] = np.nan  # silent windows: gaps, not guesses
            title = "voice (gaps: silence)"
        panels.append((title, centres, probs, voice_labels))
    if fused is not None and not fused.empty:
        labels = [c[2:] for c in fused.columns if c.startswith("p_")]
        centres = ((fused["start_s"] + fused["end_s"]) / 2).to_numpy(float)
        panels.append(("fused", centres, fused[[f"p_{x}" for x in labels]].to_numpy(float),
                       labels))
    if not panels:
        return None
    plt = _pyplot()
    colours = label_colours(sorted({x for *_, labels in panels for x in labels}))
    figure, axes = plt.subplots(len(panels), 1, figsize=(10, 2.4 * len(panels) + 0.6),
                                sharex=True, squeeze=False)
    for axis, (title, times, probs, labels) in zip(axes[:, 0], panels, strict=True):
        _panel(axis, times, probs, labels, colours, title)
    axes[-1, 0].set_xlabel("time (s)")
    return _save(figure, path)
