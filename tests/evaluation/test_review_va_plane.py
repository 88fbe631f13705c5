"""Review sheets: a predicted valence/arousal point outside the 1-10 plane is clipped onto its
edge and marked, not silently left out of the picture."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from emoscope.evaluation.review_plots import _va_panel, clip_to_plane  # noqa: E402


def _drawn(entry):
    fig, ax = plt.subplots()
    try:
        _va_panel(ax, entry)
        points = {line.get_label(): tuple(map(float, (line.get_xdata()[0],
                                                      line.get_ydata()[0])))
                  for line in ax.get_lines() if not line.get_label().startswith("_")}
        return points, [t.get_text() for t in ax.texts]
    finally:
        plt.close(fig)


def test_outside_point_is_clipped_and_marked():
    points, texts = _drawn({"va_pred": [12.5, 0.2], "va_true": [6.0, 4.0]})
    assert points["predicted (outside 1-10)"] == (10.0, 1.0)
    assert points["true"] == (6.0, 4.0)
    assert any("(12.5, 0.2) is outside 1-10" in t for t in texts)


def test_inside_point_is_drawn_where_it_is():
    points, texts = _drawn({"va_pred": [3.0, 7.5], "va_true": [6.0, 4.0]})
    assert points["predicted"] == (3.0, 7.5)
    assert not any("outside" in t for t in texts)


def test_clip_to_plane():
    assert clip_to_plane([5.0, 5.0]) == ((5.0, 5.0), False)
    assert clip_to_plane([-1.0, 11.0]) == ((1.0, 10.0), True)
    assert clip_to_plane([float("nan"), 2.0]) == ((5.5, 2.0), True)
