"""One colour per label, keyed by the label's name, for every plot of every table.

The same expression keeps its colour across plots and label spaces: names are compared in
their canonical spelling (`fearful` and `Fear` are `fear`), so a face model's `fear` line and
a voice model's `fearful` line match. Names outside the basic expressions get a colour derived
from the name itself, so they too stay the same from one plot, file or process to the next.
"""

from __future__ import annotations

import colorsys
import zlib
from collections.abc import Sequence

from emoscope.labels import canonical_label

RGB = tuple[float, float, float]


def _hex(code: str) -> RGB:
    return tuple(int(code[i:i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


# Canonical names (see emoscope.labels.canonical_label) of the expressions shared by the
# face and speech datasets, in matplotlib's tab10 colours.
_NAMED = {
    "angry": _hex("#d62728"),
    "disgust": _hex("#2ca02c"),
    "fear": _hex("#9467bd"),
    "happy": _hex("#ff7f0e"),
    "sad": _hex("#1f77b4"),
    "surprise": _hex("#17becf"),
    "neutral": _hex("#7f7f7f"),
    "calm": _hex("#bcbd22"),
    "contempt": _hex("#e377c2"),
    "other": _hex("#8c564b"),
}


def label_colour(label: str) -> RGB:
    """The RGB colour (0-1 floats) of a label, the same wherever the label is drawn."""
    name = canonical_label(label)
    if name in _NAMED:
        return _NAMED[name]
    hue = (zlib.crc32(name.encode("utf-8")) % 3600) / 3600  # stable across processes
    return colorsys.hls_to_rgb(hue, 0.45, 0.65)


def label_colours(labels: Sequence[str]) -> dict[str, RGB]:
    """Colour of each label, keyed by the label as given."""
    return {label: label_colour(label) for label in labels}
