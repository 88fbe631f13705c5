"""Voice timeline: a speech emotion model over sliding windows of a file's audio.

``VoiceAnalyzer.timeline(path)`` gives one row per window (``source, window, start_s, end_s,
rms_db, voiced``, one ``p_<label>`` per class, ``top_label``; ``voiced`` is false for a window
quieter than ``SILENCE_DB``, whose probabilities describe no voice and whose ``top_label`` is
empty). ``VoiceStage`` is the hook of
``analyze``: audio files get the voice table alone, videos with sound get it beside the face
table (and, with ``fusion``, a fused per-window table and a face/voice/fused plot); a video
without an audio track is a normal case with no voice table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from emoscope.data.audio import (
    AUDIO_SUFFIXES,
    SILENCE_DB,
    AudioFrontEnd,
    has_audio_stream,
    is_sound_only,
    iter_audio,
    sliding_windows,
)
from emoscope.data.audio_windows import AudioWindow, stream_windows
from emoscope.data.video import VIDEO_SUFFIXES
from emoscope.errors import UserError

if TYPE_CHECKING:
    from emoscope.inference.options import AnalyzeOptions, InputReport

log = logging.getLogger(__name__)

FUSIONS = ("none", "late", "intermediate")
# Windows classified per pass, in batches of ``batch_size``: memory holds this many windows'
# spectrograms whatever the duration, and batches are those of one pass over the whole file.
BATCHES_PER_PASS = 4


def is_audio_file(path: str | Path) -> bool:
    """An audio file by suffix, or a video container holding sound only (a voice memo .mp4)."""
    path = Path(path)
    if not path.is_file():
        return False
    suffix = path.suffix.lower()
    return suffix in AUDIO_SUFFIXES or (suffix in VIDEO_SUFFIXES and is_sound_only(path))


def voice_columns(labels: list[str]) -> list[str]:
    return ["source", "window", "start_s", "end_s", "rms_db", "voiced",
            *(f"p_{label}" for label in labels), "top_label"]


class VoiceAnalyzer:
    """A speech model (shipped name, path, or the default speech model) over windows."""

    def __init__(self, model: str | None = None, device: str = "cpu", window_s: float = 1.0,
                 hop_s: float = 0.5, batch_size: int = 64, runtime: str = "auto"):
        from emoscope.models.files.loading import load_for_inference

        if window_s <= 0 or hop_s <= 0:
            raise UserError(f"voice window and hop must be positive, got {window_s}, {hop_s}")
        loaded = load_for_inference(model, "speech_emotion", runtime, device)
        self.network, self.card, self.source = loaded.network, loaded.card, loaded.source
        if "audio" not in self.card.extra:
            raise UserError(f"{self.source}: '{self.card.name}' is not a speech model")
        self.front = AudioFrontEnd.from_dict(self.card.extra["audio"])
        self.labels = list(self.card.label_space.labels)
        self.window_s, self.hop_s = window_s, hop_s
        self.device, self.batch_size = device, batch_size

    def windows(self, wave: np.ndarray) -> list[tuple[int, int]]:
        return sliding_windows(len(wave), self.front.sample_rate, self.window_s, self.hop_s)

    def timeline(self, path: str | Path, check: Callable[[], None] | None = None,
                 max_seconds: float | None = None,
                 on_rows: Callable[[pd.DataFrame], None] | None = None) -> pd.DataFrame:
        """Per-window probabilities of the audio of ``path`` (MediaError when unreadable).

        The audio streams through in pieces (memory does not grow with duration); ``check`` is
        called for every window (a deadline raises from it) and ``max_seconds`` analyses the
        first seconds only, setting ``table.attrs["cut_at_s"]`` when the audio was longer.
        ``on_rows`` gets the rows of each pass as they are classified (a table written as it
        grows keeps them if the run is stopped).
        """
        rate = self.front.sample_rate
        audio = _FirstSamples(iter_audio(path, rate), max_seconds, rate)
        rows: list[dict[str, object]] = []
        pending: list[AudioWindow] = []
        for window in stream_windows(audio, self.front, self.window_s, self.hop_s):
            if check is not None:
                check()
            pending.append(window)
            if len(pending) == self.batch_size * BATCHES_PER_PASS:
                self._emit(self._rows(pending, str(path), len(rows)), rows, on_rows)
                pending = []
        self._emit(self._rows(pending, str(path), len(rows)), rows, on_rows)
        table = pd.DataFrame(rows, columns=voice_columns(self.labels))
        if audio.cut:
            table.attrs["cut_at_s"] = float(max_seconds)
        return table

    def _emit(self, new: list[dict[str, object]], rows: list[dict[str, object]],
              on_rows: Callable[[pd.DataFrame], None] | None) -> None:
        rows.extend(new)
        if on_rows is not None and new:
            on_rows(pd.DataFrame(new, columns=voice_columns(self.labels)))

    def _rows(self, windows: list[AudioWindow], source: str,
              first: int) -> list[dict[str, object]]:
        """Rows of consecutive windows, batched as one pass over the whole file would be."""
        from emoscope.models.files.loading import predict_softmax

        if not windows:
            return []
        rate = self.front.sample_rate
        probs = predict_softmax(self.network, [w.spectrogram for w in windows], self.batch_size,
                                self.device, waves=[w.samples for w in windows],
                                starts=[w.start for w in windows])
        rows = []
        for i, (window, p) in enumerate(zip(windows, probs, strict=True), start=first):
            chunk = window.samples
            rms = float(np.sqrt(np.mean(chunk.astype(np.float64) ** 2))) if chunk.size else 0.0
            rms_db = round(20 * np.log10(max(rms, 1e-10)), 2)
            voiced = bool(rms_db >= SILENCE_DB)
            rows.append({"source": source, "window": i, "start_s": round(window.start / rate, 4),
                         "end_s": round(window.end / rate, 4), "rms_db": rms_db,
                         "voiced": voiced,
                         **{f"p_{label}": float(v) for label, v in zip(self.labels, p,
                                                                        strict=True)},
                         # a silent window's probabilities describe no voice: no label
                         "top_label": self.labels[int(p.argmax())] if voiced else None})
        return rows


class _FirstSamples:
    """The blocks of ``iter_audio`` up to ``max_seconds`` (all when None); ``cut`` tells
    whether audio was left over."""

    def __init__(self, blocks: Iterator[tuple[np.ndarray, int]], max_seconds: float | None,
                 rate: int):
        self.blocks = blocks
        self.left = None if max_seconds is None else int(round(max_seconds * rate))
        self.cut = False

    def __iter__(self) -> Iterator[np.ndarray]:
        for block, _ in self.blocks:
            if self.left is None:
                yield block
                continue
            if block.size > self.left:
                self.cut = True
                if self.left:
                    yield block[:self.left]
                self.blocks.close()  # stop decoding: the rest will not be analysed
                return
            self.left -= block.size
            yield block


class VoiceStage:
    """The voice part of one ``analyze`` run; the speech model loads on first use."""

    def __init__(self, options: AnalyzeOptions, out_dir: Path | None):
        self.options, self.out_dir = options, out_dir
        self._analyzer: VoiceAnalyzer | None = None

    @property
    def analyzer(self) -> VoiceAnalyzer:
        if self._analyzer is None:
            o = self.options
            self._analyzer = VoiceAnalyzer(o.voice_model, o.device, o.voice_window,
                                           o.voice_hop, o.batch_size, o.runtime)
        return self._analyzer

    def audio_input(self, path: Path, stem: str) -> InputReport:
        """An audio file: the voice timeline alone (one-line error if unreadable)."""
        from emoscope.errors import MediaError
        from emoscope.inference.options import InputReport

        report = InputReport(str(path), ok=False)
        try:
            table = self.analyzer.timeline(path)
        except MediaError as err:
            report.errors.append(str(err))
            return report
        report.ok, report.voice_windows = True, len(table)
        report.files.extend(self._write(table, stem, "voice"))
        report.files.extend(self._plot(None, table, None, stem))
        return report

    def video_input(self, path: Path, stem: str, face_table: pd.DataFrame | None,
                    face_labels: list[str], voice: pd.DataFrame | None = None) -> list[Path]:
        """A video: voice timeline (if it has sound) and the fused one (if asked); ``voice``:
        its timeline already written (``analyze`` writes it before the faces)."""
        from emoscope.errors import MediaError

        if self.out_dir is None:  # the Python API returns the face table only
            return []
        files: list[Path] = []
        if voice is None:
            if not has_audio_stream(path):
                log.info("%s: no audio track; face timeline only", path)
                return []
            try:
                voice = self.analyzer.timeline(path)
            except MediaError as err:
                log.warning("%s; face timeline only", err)
                return []
            files = self._write(voice, stem, "voice")
        fused = None
        if self.options.fusion == "late":
            from emoscope.inference.av_fusion import late_fusion

            fused = late_fusion(face_table, voice, face_labels, self.analyzer.labels,
                                self.options.face_weight)
        elif self.options.fusion == "intermediate":
            from emoscope.inference.av_fusion import intermediate_fusion

            fused = intermediate_fusion(path, voice, self.options)
        if fused is not None:
            files += self._write(fused, stem, "fused")
        files += self._plot(face_table, voice, fused, stem, face_labels)
        return files

    def _write(self, table: pd.DataFrame, stem: str, kind: str) -> list[Path]:
        if self.out_dir is None:
            return []
        from emoscope.inference.writers import write_table

        return [write_table(table, self.out_dir / f"{stem}_{kind}", self.options.format)]

    def _plot(self, face_table, voice, fused, stem, face_labels=None) -> list[Path]:
        if self.out_dir is None or not self.options.plots:
            return []
        from emoscope.inference.av_plots import plot_av_timelines

        path = plot_av_timelines(face_table, voice, fused, face_labels or [],
                                 self.analyzer.labels, self.out_dir / f"{stem}_av_timeline.png")
        return [path] if path is not None else []
