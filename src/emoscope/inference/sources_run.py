"""One input of ``analyze`` (an image, a video or a folder of them) run end to end.

A video's voice table is written as its windows are classified, before its faces are analysed,
so a run stopped during either pass keeps what was done; a folder's audio files and videos with
sound share one voice table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from emoscope.data.audio import has_audio_stream
from emoscope.data.images import load_image
from emoscope.data.sources import MediaInput, file_kind
from emoscope.data.video import Frame, VideoReader
from emoscope.errors import MediaError
from emoscope.inference.annotate import FaceLabel, VideoWriter, draw_faces, save_png
from emoscope.inference.pipeline import FrameAnalyzer, FrameResult, result_rows
from emoscope.inference.summary import TrackSummary
from emoscope.inference.writers import (
    TableWriter,
    empty_table,
    open_writer,
    rows_to_frame,
    write_table,
)

if TYPE_CHECKING:
    from emoscope.inference.options import AnalyzeOptions, InputReport, Progress
    from emoscope.inference.voice import VoiceStage

log = logging.getLogger(__name__)

# Errors of decoding libraries that mean "this file cannot be analysed", not a bug of ours.
_MEDIA_FAILURES: tuple[type[BaseException], ...] = (MediaError, OSError, EOFError)


def open_frames(path: Path, kind: str, every: int = 1,
                fps: float | None = None) -> tuple[Iterator[Frame], int | None]:
    """Frames of one image or video file and how many to expect (None if unknown).

    Opening reads the image or probes the video, so unreadable files fail here.
    """
    if kind == "image":
        image = load_image(path)
        return iter([Frame(image.rgb, 0, 0.0, image.scale)]), 1
    reader = VideoReader(path, every=every, fps=fps)
    info = reader.info
    total = None
    if info.frame_count:
        total = -(-info.frame_count // every)
        if fps and info.fps:
            total = int(total * min(1.0, fps / info.fps)) + 1
    return iter(reader), total


class SourceRun:
    """Writes the table, summary, plots and annotations of one ``MediaInput``."""

    def __init__(self, media: MediaInput, stem: str, options: AnalyzeOptions,
                 analyzer: FrameAnalyzer, out_dir: Path | None, progress: Progress,
                 collect: bool, on_error: Callable[[str], None],
                 voice: VoiceStage | None = None):
        self.media, self.stem, self.options = media, stem, options
        self.analyzer, self.out_dir, self.progress = analyzer, out_dir, progress
        self.on_error = on_error
        self.voice = voice  # None: no voice timelines (--no-voice)
        self.voice_table: pd.DataFrame | None = None  # a single video's, for fusion and plots
        self._voice_writer: TableWriter | None = None
        labels = analyzer.labels
        self.labels = labels
        self.has_va = analyzer.predictor.has_valence_arousal
        self.columns = analyzer.columns()
        self.summary = TrackSummary(labels, self.has_va,
                                    getattr(analyzer.predictor, "au_labels", ()),
                                    head_pose=analyzer.geometry is not None)
        self.writer: TableWriter | None = None
        self.collected: pd.DataFrame | None = empty_table(self.columns) if collect else None
        self._parts: list[pd.DataFrame] = []
        self._rows: list[dict[str, object]] = []

    def execute(self) -> InputReport:
        from emoscope.inference.options import InputReport

        report = InputReport(str(self.media.path), ok=False)
        files = self.media.files if self.media.kind == "folder" else [self.media.path]
        for path in files:
            kind = file_kind(path) if self.media.kind == "folder" else self.media.kind
            try:
                if kind == "audio":
                    report.ok = self._audio_member(path, report) or report.ok
                    continue
                frames, total = open_frames(path, kind, self.options.every, self.options.fps)
                if kind == "video":
                    self._voice_of_video(path)
                self._open_table()
                self._analyse_file(path, kind, frames, total, report)
                report.ok = True
            except _MEDIA_FAILURES as err:
                message = str(err) if isinstance(err, MediaError) else f"{path}: {err}"
                report.errors.append(message)
                self.on_error(message)
        if report.ok:
            self._flush()
            report.files.extend(self._finish())
        elif self.writer is not None:
            self.writer.close()
        if self._voice_writer is not None:
            report.files.append(self._voice_writer.close())
        if self.collected is not None and self._parts:
            self.collected = pd.concat(self._parts, ignore_index=True)
        return report

    def _audio_member(self, path: Path, report: InputReport) -> bool:
        """A folder's audio file: its voice timeline (MediaError when unreadable)."""
        if self.voice is None:
            log.warning("%s: audio file skipped (voice timelines are off)", path)
            return False
        table = self.voice.analyzer.timeline(path, on_rows=self._write_voice)
        report.voice_windows += len(table)
        return True

    def _voice_of_video(self, path: Path) -> None:
        """A video's voice timeline, written before its faces are analysed (none without sound;
        an undecodable sound is a warning: the faces are still analysed)."""
        if self.voice is None or self.out_dir is None or not has_audio_stream(path):
            return  # the Python API returns the face table only
        try:
            table = self.voice.analyzer.timeline(path, on_rows=self._write_voice)
        except MediaError as err:  # rows before the damage stay in the voice table
            log.warning("%s; face timeline only", err)
            return
        if self.media.kind == "video":
            self.voice_table = table

    def _write_voice(self, table: pd.DataFrame) -> None:
        if self.out_dir is None:
            return
        if self._voice_writer is None:
            fixed = {"source": "string", "window": "int64", "voiced": "bool",
                     "top_label": "string"}
            columns = {name: fixed.get(name, "float64") for name in table.columns}
            self._voice_writer = open_writer(self.out_dir / f"{self.stem}_voice", columns,
                                             self.options.format)
        self._voice_writer.write(table)

    def _open_table(self) -> None:
        if self.writer is None and self.out_dir is not None:
            self.writer = open_writer(self.out_dir / self.stem, self.columns,
                                      self.options.format)

    def _analyse_file(self, path: Path, kind: str, frames: Iterator[Frame], total: int | None,
                      report: InputReport) -> None:
        self.analyzer.reset()
        annotator = self._annotator(path, kind)
        self.progress.start(path.name, total)
        try:
            for result in self.analyzer.analyse(frames):
                self._record(result, str(path))
                report.frames += 1
                report.faces += len(result.boxes)
                if annotator is not None:
                    annotator(result)
                self.progress.advance()
        finally:
            self.progress.finish()
            if isinstance(annotator, _VideoAnnotator):
                written = annotator.close()
                if written is not None:
                    report.files.append(written)
            elif annotator is not None and annotator.path is not None:
                report.files.append(annotator.path)

    def _record(self, result: FrameResult, source: str) -> None:
        rows = result_rows(result, source, self.labels)
        for i, row in enumerate(rows):
            va = result.valence_arousal[i] if result.valence_arousal is not None else None
            aus = result.action_units[i] if result.action_units is not None else None
            pose = result.head_pose[i] if result.head_pose is not None else None
            self.summary.add(source, row["track_id"], row["frame"], row["time_s"],
                             row["det_score"], result.probabilities[i], va, aus, pose)
        self._rows.extend(rows)
        if len(self._rows) >= self.options.flush_rows:
            self._flush()

    def _flush(self) -> None:
        batch = rows_to_frame(self._rows, self.columns)
        self._rows = []
        if self.writer is not None:
            self.writer.write(batch)
        if self.collected is not None and len(batch):
            self._parts.append(batch)

    def _finish(self) -> list[Path]:
        if self.out_dir is None or self.writer is None:
            return []
        files = [self.writer.close()]
        files.append(write_table(self.summary.table(), self.out_dir / f"{self.stem}_tracks",
                                 self.options.format))
        if self.options.plots:
            from emoscope.inference.plots import plot_results
            from emoscope.inference.writers import read_table

            wanted = ["source", "track_id", "time_s", "top_label"]
            table = read_table(files[0])
            table = table[wanted + [f"p_{label}" for label in self.labels]]
            files.extend(plot_results(table, self.labels, self.out_dir, self.stem,
                                      max(self.options.smooth, 5), self.options.smooth_method))
        return files

    def _annotator(self, path: Path, kind: str):
        if not self.options.annotate or self.out_dir is None:
            return None
        if self.media.kind == "folder":
            relative = path.relative_to(self.media.path)
            target = self.out_dir / f"{self.stem}_annotated" / relative
        else:
            target = self.out_dir / f"{self.stem}_annotated"
        suffix = ".png" if kind == "image" else ".mp4"
        if target.suffix.lower() != suffix:  # a.jpg -> a.jpg.png: a.png and a.jpg both fit
            target = target.with_name(target.name + suffix)
        if kind == "image":
            return _ImageAnnotator(target, self.labels)
        return _VideoAnnotator(target, self.labels)


ACTIVE_AU = 0.5  # an action unit is shown as active from this probability


def face_labels(result: FrameResult, labels: list[str]) -> list[FaceLabel]:
    """Caption per face: the smoothed label when smoothing is on, else the raw one; multi-task
    models add valence/arousal and the active action units, and head pose its angles, as a
    second line."""
    probs = result.smoothed if result.smoothed is not None else result.probabilities
    faces = []
    for i, (box, track_id, p) in enumerate(zip(result.boxes, result.track_ids, probs,
                                               strict=True)):
        top = int(p.argmax())
        faces.append(FaceLabel((box.x1, box.y1, box.x2, box.y2), track_id, labels[top],
                               float(p[top]), _affect_details(result, i)))
    return faces


def _affect_details(result: FrameResult, i: int) -> str:
    """``V +0.31 A -0.12  AU6 AU12`` for face ``i`` (smoothed values when smoothing is on)."""
    va = result.smoothed_valence_arousal if result.smoothed_valence_arousal is not None \
        else result.valence_arousal
    aus = result.smoothed_action_units if result.smoothed_action_units is not None \
        else result.action_units
    parts = []
    if va is not None:
        parts.append(f"V {va[i][0]:+.2f} A {va[i][1]:+.2f}")
    if aus is not None:
        active = [name for name, p in zip(result.au_labels, aus[i], strict=True)
                  if p >= ACTIVE_AU]
        parts.append(" ".join(active) if active else "no AU")
    if result.head_pose is not None and not np.isnan(result.head_pose[i]).any():
        yaw, pitch, roll = result.head_pose[i]
        parts.append(f"yaw {yaw:+.0f} pitch {pitch:+.0f} roll {roll:+.0f}")
    return "  ".join(parts)


class _ImageAnnotator:
    def __init__(self, path: Path, labels: list[str]):
        self.path: Path | None = None
        self._target, self._labels = path, labels

    def __call__(self, result: FrameResult) -> None:
        self.path = save_png(draw_faces(result.frame.rgb, face_labels(result, self._labels)),
                             self._target)


class _VideoAnnotator:
    def __init__(self, path: Path, labels: list[str]):
        self._writer: VideoWriter | None = None
        self._path, self._labels = path, labels

    def __call__(self, result: FrameResult) -> None:
        if self._writer is None:
            self._writer = VideoWriter(self._path)
        canvas = draw_faces(result.frame.rgb, face_labels(result, self._labels),
                            note=f"t={result.frame.time_s:.2f}s")
        self._writer.write(canvas, result.frame.time_s)

    def close(self) -> Path | None:
        return self._writer.close() if self._writer is not None else None
