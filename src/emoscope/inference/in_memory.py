"""Images and frames already in memory (numpy arrays, PIL images): a product's own camera loop.

The model and detector load once per ``EmotionAnalyzer``; each call returns the same per-face
table ``analyze`` writes (boxes in the given image's pixels).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from emoscope.data.images import array_to_rgb, shrink_to_max_side
from emoscope.data.video import MAX_FRAME_SIDE, Frame
from emoscope.errors import UserError
from emoscope.inference.options import AnalyzeOptions
from emoscope.inference.pipeline import build_analyzer, result_rows
from emoscope.inference.writers import conform, rows_to_frame


class EmotionAnalyzer:
    """Detector + tracker + face model for in-memory images.

    ``analyze_image`` treats each image on its own; ``analyze_frame`` continues one stream
    (track ids and smoothing carry over between calls until ``reset``); ``analyze_frames``
    analyses a whole sequence as one stream. Options are ``AnalyzeOptions`` fields (model,
    detector, device, smooth, threshold, ...); nothing is written to disk.
    """

    def __init__(self, **options: object):
        try:
            self.options = AnalyzeOptions(**options)
        except TypeError as err:
            raise UserError(f"EmotionAnalyzer: {err}") from None
        if self.options.out is not None or self.options.annotate:
            raise UserError("EmotionAnalyzer writes nothing; use emoscope.analyze(path, "
                            "out=...) for files, plots and annotations")
        self.options.validate()
        self._analyzer = build_analyzer(self.options)
        self._index = 0
        self._clock: float | None = None

    @property
    def labels(self) -> list[str]:
        return list(self._analyzer.labels)

    def analyze_image(self, image, channels: str = "rgb", source: str = "image") -> pd.DataFrame:
        """One still image (array or PIL image): one row per face."""
        self.reset()
        table = self._table([self._frame(image, channels, 0, 0.0)], source)
        self.reset()
        return table

    def analyze_frame(self, image, time_s: float | None = None, channels: str = "rgb",
                      source: str = "stream") -> pd.DataFrame:
        """The next frame of a stream; ``time_s`` defaults to seconds since the first frame."""
        now = time.monotonic()
        if self._clock is None:
            self._clock = now
        when = now - self._clock if time_s is None else float(time_s)
        frame = self._frame(image, channels, self._index, when)
        self._index += 1
        return self._table([frame], source)

    def analyze_frames(self, images: Iterable, fps: float | None = None,
                       times: Sequence[float] | None = None, channels: str = "rgb",
                       source: str = "frames") -> pd.DataFrame:
        """A sequence as one stream, timed by ``fps`` or explicit ``times`` (seconds)."""
        if (fps is None) == (times is None):
            raise UserError("analyze_frames needs exactly one of fps= or times=")
        if fps is not None and fps <= 0:
            raise UserError(f"fps must be positive, got {fps}")
        self.reset()
        frames = (self._frame(image, channels, i, i / fps if fps else float(times[i]))
                  for i, image in enumerate(images))
        table = self._table(frames, source)
        self.reset()
        return table

    def reset(self) -> None:
        """Start a new stream: fresh track ids, smoothing, frame numbers and clock."""
        self._analyzer.reset()
        self._index, self._clock = 0, None

    def close(self) -> None:
        self._analyzer.detector.close()

    def __enter__(self) -> EmotionAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _frame(self, image, channels: str, index: int, time_s: float) -> Frame:
        try:
            rgb = array_to_rgb(image, channels)
        except (ValueError, TypeError) as err:
            raise UserError(f"frame {index}: {err}") from None
        rgb, scale = shrink_to_max_side(rgb, MAX_FRAME_SIDE)
        return Frame(rgb, index, time_s, scale)

    def _table(self, frames: Iterable[Frame], source: str) -> pd.DataFrame:
        columns = self._analyzer.columns()
        rows = [row for result in self._analyzer.analyse(frames)
                for row in result_rows(result, source, self.labels)]
        return conform(rows_to_frame(rows, columns), columns)


def analyze_arrays(images: Sequence[np.ndarray] | np.ndarray, **options: object) -> pd.DataFrame:
    """``emoscope.analyze`` for in-memory images: each one analysed on its own, ``source``
    holding its position in the list."""
    single = not isinstance(images, (list, tuple))
    channels = str(options.pop("channels", "rgb"))
    with EmotionAnalyzer(**options) as analyzer:
        tables = [analyzer.analyze_image(image, channels, source="image" if single else str(i))
                  for i, image in enumerate([images] if single else images)]
    return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
