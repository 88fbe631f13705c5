"""One colour per label: the emotion timeline, the distribution and the audio-visual timeline
draw each label in the colour of the shared palette."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoscope.inference import av_plots, plots
from emoscope.labels import FER2013_LABELS, RAVDESS_LABELS
from emoscope.palette import label_colour, label_colours

FACE = list(FER2013_LABELS.labels)
VOICE = list(RAVDESS_LABELS.labels)


@pytest.fixture
def figures(monkeypatch):
    """Keep each figure instead of writing it, so its artists can be read back."""
    kept = []

    def keep(figure, path):
        kept.append(figure)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    monkeypatch.setattr(av_plots, "_save", keep)
    return kept


def _face_table(n: int = 20) -> pd.DataFrame:
    probs = np.random.default_rng(0).dirichlet(np.ones(len(FACE)), size=n)
    table = pd.DataFrame({"source": "clip.mp4", "track_id": 0, "time_s": np.arange(n) / 10})
    for i, label in enumerate(FACE):
        table[f"p_{label}"] = probs[:, i]
    table["top_label"] = [FACE[i] for i in probs.argmax(axis=1)]
    return table


def _voice_table(n: int = 4) -> pd.DataFrame:
    probs = np.random.default_rng(1).dirichlet(np.ones(len(VOICE)), size=n)
    table = pd.DataFrame({"start_s": np.arange(n) * 0.5, "end_s": np.arange(n) * 0.5 + 1.0,
                          "voiced": True})
    for i, label in enumerate(VOICE):
        table[f"p_{label}"] = probs[:, i]
    return table


def _line_colours(figure) -> dict[str, tuple]:
    """Colour of each labelled line, per panel title."""
    found = {}
    for axis in figure.axes:
        for line in axis.get_lines():
            if not line.get_label().startswith("_"):
                found[(axis.get_title(loc="left"), line.get_label())] = tuple(
                    line.get_color()[:3])
    return found


def test_a_label_has_one_colour_in_every_plot(tmp_path, figures):
    face = _face_table()
    plots.plot_timeline(face, FACE, tmp_path / "t.png")
    plots.plot_distribution(face, FACE, tmp_path / "d.png")
    av_plots.plot_av_timelines(face, _voice_table(), None, FACE, VOICE, tmp_path / "av.png")
    timeline, distribution, audio_visual = figures
    timeline_colours = {label: c for (_, label), c in _line_colours(timeline).items()}
    av_colours = _line_colours(audio_visual)
    bars = distribution.axes[0].patches
    for i, label in enumerate(FACE):
        expected = pytest.approx(label_colour(label))
        assert timeline_colours[label] == expected
        assert av_colours[("face", label)] == expected
        assert tuple(bars[i].get_facecolor()[:3]) == expected
    # the voice panel's spellings of the same expressions share the face colours
    assert av_colours[("voice", "fearful")] == pytest.approx(timeline_colours["fear"])
    assert av_colours[("voice", "surprised")] == pytest.approx(timeline_colours["surprise"])
    assert av_colours[("voice", "happy")] == pytest.approx(timeline_colours["happy"])


def test_the_palette_keys_colours_by_name_not_by_position():
    two, three = label_colours(["happy", "sad"]), label_colours(["sad", "happy", "angry"])
    assert two == {label: three[label] for label in ("happy", "sad")}
    assert label_colour("Anger") == label_colour("angry")
    assert label_colour("calm") != label_colour("neutral")
    named = [label_colour(x) for x in ("angry", "disgust", "fear", "happy", "sad", "surprise",
                                        "neutral", "calm", "contempt", "other")]
    assert len(set(named)) == len(named)
    # names outside the basic expressions (EMOTIC's categories) get a stable colour of their own
    assert label_colour("Yearning") == label_colour("yearning")
    assert all(0.0 <= v <= 1.0 for v in label_colour("Doubt/Confusion"))
