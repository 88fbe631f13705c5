"""Plots from result tables: files are written for normal, single-frame and empty tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emoscope.inference.plots import plot_results

LABELS = ["happy", "sad", "neutral"]


def table(n: int, tracks: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(LABELS)), size=n)
    frame = pd.DataFrame({"source": "clip.mp4", "track_id": np.arange(n) % tracks,
                          "time_s": np.arange(n) / 25.0})
    for i, label in enumerate(LABELS):
        frame[f"p_{label}"] = probs[:, i]
    frame["top_label"] = [LABELS[i] for i in probs.argmax(axis=1)]
    return frame


def test_all_plots_for_a_video(tmp_path):
    files = plot_results(table(120, 3), LABELS, tmp_path, "clip", smooth_k=5)
    assert [f.name for f in files] == ["clip_timeline.png", "clip_distribution.png",
                                       "clip_heatmap.png"]
    for path in files:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_single_frames_skip_the_timeline_and_empty_tables_still_plot(tmp_path):
    assert [f.name for f in plot_results(table(3, 3), LABELS, tmp_path, "photos")] == [
        "photos_distribution.png", "photos_heatmap.png"]
    assert len(plot_results(table(0, 1), LABELS, tmp_path, "none")) == 2


def test_many_tracks_keep_the_heatmap_small(tmp_path):
    from PIL import Image

    (*_, heatmap) = plot_results(table(2000, 500), LABELS, tmp_path, "crowd")
    assert Image.open(heatmap).height < 3000
