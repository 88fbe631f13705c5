"""The service's analysis: detectors and models loaded once, lent to one request at a time.

A request gets the same face table as ``emoscope analyze --format json`` (``{"columns",
"rows"}``), optionally an annotated png/mp4 and the plots, and for audio files and videos with
sound the voice timeline of ``analyze`` (``voice_columns``, ``voice_rows``), within a deadline
checked at every decoded frame and every voice window.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from emoscope.data.animated import is_animated_image
from emoscope.data.audio import has_audio_stream, is_sound_only
from emoscope.data.video import Frame, VideoReader, check_sample_fps
from emoscope.errors import MediaError, UserError
from emoscope.inference.analyze import AnalyzeOptions, build_analyzer
from emoscope.inference.pipeline import FrameAnalyzer, result_rows
from emoscope.inference.smoothing import TrackSmoother
from emoscope.inference.voice import VoiceAnalyzer, voice_columns
from emoscope.inference.writers import conform, rows_to_frame
from emoscope.serve.settings import ServeSettings

log = logging.getLogger(__name__)

# pyplot keeps global state: two requests plotting at once would draw into each other's figures.
_PLOT_LOCK = threading.Lock()


class AnalysisTimeout(Exception):
    """The request's deadline passed before its analysis finished."""


class ServiceBusy(Exception):
    """No analyser became free before the request's deadline."""


@dataclass
class RequestOptions:
    """What one request may choose; everything else is fixed at start (``ServeSettings``)."""

    every: int = 1
    fps: float | None = None
    smooth: int = 1
    smooth_method: str = "ema"
    annotate: bool = False
    plots: bool = False

    def validate(self) -> None:
        """UserError for options no analysis can honour (the route's checks, for callers of
        ``AnalysisEngine.analyse`` that bypass it)."""
        check_sample_fps(self.fps, "fps")
        if self.every < 1:
            raise UserError(f"every must be at least 1, got {self.every}")


@dataclass
class AnalysisResult:
    kind: str
    frames: int
    faces: int
    columns: list[str]
    rows: list[dict[str, object]]
    files: dict[str, Path] = field(default_factory=dict)  # annotated, timeline, ...
    voice_model: str | None = None  # set when the voice was analysed (audio, video)
    voice_columns: list[str] = field(default_factory=list)
    voice_rows: list[dict[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a video's sound was unreadable
    table: object = None  # the face and voice tables as DataFrames, for the plots
    voice_table: object = None


class AnalysisEngine:
    """``settings.workers`` analysers (detector + model + tracker), built at start."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        options = AnalyzeOptions(detector=settings.detector, threshold=settings.threshold,
                                 min_face=settings.min_face, max_faces=settings.max_faces,
                                 model=settings.model, device=settings.device,
                                 runtime=settings.runtime,
                                 batch_size=settings.batch_size, align=settings.align,
                                 pose=settings.pose,
                                 detector_options=dict(settings.detector_options))
        options.validate()
        self._all = [build_analyzer(options) for _ in range(settings.workers)]
        self._free: queue.Queue[FrameAnalyzer] = queue.Queue()
        self._lent: dict[int, float] = {}  # id(analyser) -> when it was lent (monotonic)
        self._lent_lock = threading.Lock()
        for analyzer in self._all:
            self._free.put(analyzer)
        predictor = self._all[0].predictor
        self.card = predictor.card
        self.labels = list(predictor.labels)
        self.has_valence_arousal = predictor.has_valence_arousal
        # One speech model shared by the workers, one file at a time: a file's voice timeline is
        # short next to its face pass, so the lock is rarely waited on, the model loads once
        # instead of per worker, and two voice passes never compete for the CPU threads.
        self.voice: VoiceAnalyzer | None = None
        self._voice_lock = threading.Lock()
        if settings.voice_enabled:
            try:
                self.voice = VoiceAnalyzer(settings.voice_model, settings.device,
                                           settings.voice_window_s, settings.voice_hop_s,
                                           settings.batch_size, settings.runtime)
            except BaseException:
                self.close()  # the detectors already started
                raise
        self.voice_model = self.voice.card.name if self.voice is not None else None
        log.info("serving model %s with detector %s (%d analyser(s)), voice model %s",
                 self.card.name, settings.detector, settings.workers, self.voice_model)

    @contextmanager
    def lend(self, deadline: float) -> Iterator[FrameAnalyzer]:
        """A free analyser for the block; ServiceBusy if none frees up before ``deadline``."""
        try:
            analyzer = self._free.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise ServiceBusy() from None
        with self._lent_lock:
            self._lent[id(analyzer)] = time.monotonic()
        try:
            yield analyzer
        finally:
            with self._lent_lock:
                self._lent.pop(id(analyzer), None)
            self._free.put(analyzer)

    def longest_lend_s(self) -> float:
        """Seconds the analyser lent longest ago has been out (0 when all are free): far past
        the request deadline means a worker is wedged in a call that checks no deadline."""
        with self._lent_lock:
            oldest = min(self._lent.values(), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    def analyse(self, path: Path, kind: str, source: str, options: RequestOptions,
                out_dir: Path | None, deadline: float,
                max_audio_s: float | None = None) -> AnalysisResult:
        """Analyse one image, video or audio file; MediaError for unreadable media. Sound past
        ``max_audio_s`` (default: the engine's setting) is left out with a warning."""
        options.validate()
        max_audio_s = max_audio_s or self.settings.max_audio_s
        with self.lend(deadline) as analyzer:  # decoding too: memory grows with workers only
            if kind == "video" and self.voice is not None and is_sound_only(path):
                kind = "audio"  # a voice memo in an mp4/webm container: no frames to look at
            if kind == "audio":
                result = AnalysisResult(kind, 0, 0, [], [])
                self._add_voice(result, path, source, deadline, max_audio_s)
                self._plot_voice(result, options, out_dir)
                return result
            if kind == "image":
                check_image(path, source)
                if is_animated_image(path):  # a GIF, APNG or animated WebP: every frame
                    kind = "video"
            try:
                frames = _open_frames(path, kind, options, deadline)
            except MediaError as err:
                raise MediaError(source, err.problem) from None
            except (OSError, EOFError) as err:
                raise MediaError(source, str(err)) from None
            result = self._run(analyzer, _until(frames, deadline), kind, source, options,
                               out_dir)
            if kind == "video":
                self._add_voice(result, path, source, deadline, max_audio_s)
                self._plot_voice(result, options, out_dir)
            return result

    def _add_voice(self, result: AnalysisResult, path: Path, source: str, deadline: float,
                   max_audio_s: float) -> None:
        """The voice timeline into ``result``; a video without sound gets none (no error), a
        video whose sound cannot be decoded keeps its faces and gets a warning, as ``analyze``
        does; an audio file that cannot be decoded is a MediaError."""
        if self.voice is None:
            return
        result.voice_model = self.voice_model
        result.voice_columns = voice_columns(self.voice.labels)
        if result.kind == "video" and not has_audio_stream(path):
            return
        _check_deadline(deadline)
        if not self._voice_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise AnalysisTimeout()
        try:
            table = self.voice.timeline(path, check=lambda: _check_deadline(deadline),
                                        max_seconds=max_audio_s)
        except MediaError as err:  # name the upload, not the service's temporary copy
            problem = err.problem.replace(str(path), source)
        except (OSError, EOFError) as err:
            problem = str(err).replace(str(path), source)
        else:
            problem = None
        finally:
            self._voice_lock.release()
        if problem is not None:
            if result.kind != "video":
                raise MediaError(source, problem)
            result.warnings.append(f"{source}: sound not analysed ({problem}); faces only")
            log.warning("%s", result.warnings[-1])
            return
        _check_deadline(deadline)
        if "cut_at_s" in table.attrs:
            result.warnings.append(f"{source}: sound analysed for its first "
                                   f"{table.attrs['cut_at_s']:g} s only (the service's limit)")
        table["source"] = source
        result.voice_rows = _records(table)
        result.voice_table = table

    def _plot_voice(self, result: AnalysisResult, options: RequestOptions,
                    out_dir: Path | None) -> None:
        """With ``plots``: the face and voice timelines stacked (``analyze``'s av timeline)."""
        if not options.plots or out_dir is None or not result.voice_rows:
            return
        from emoscope.inference.av_plots import plot_av_timelines

        with _PLOT_LOCK:
            path = plot_av_timelines(result.table, result.voice_table, None, self.labels,
                                     self.voice.labels, out_dir / "av_timeline.png")
        if path is not None:
            result.files["av_timeline"] = path

    def _run(self, analyzer: FrameAnalyzer, frames: Iterator[Frame], kind: str, source: str,
             options: RequestOptions, out_dir: Path | None) -> AnalysisResult:
        from emoscope.inference.annotate import VideoWriter, draw_faces
        from emoscope.inference.sources_run import face_labels

        analyzer.reset()
        analyzer.smoother = TrackSmoother(options.smooth, options.smooth_method)
        annotate = options.annotate and out_dir is not None
        analyzer.keep_pixels = annotate
        analyzer.max_buffer_frames = 8 if annotate else 64  # as ``analyze`` buffers full frames
        video = VideoWriter(out_dir / "annotated.mp4") if annotate and kind == "video" else None
        rows: list[dict[str, object]] = []
        files: dict[str, Path] = {}
        frame_count = 0
        try:
            for result in analyzer.analyse(frames):
                frame_count += 1
                rows.extend(result_rows(result, source, self.labels))
                if not annotate:
                    continue
                canvas = draw_faces(result.frame.rgb, face_labels(result, self.labels),
                                    note=f"t={result.frame.time_s:.2f}s" if video else None)
                if video is not None:
                    video.write(canvas, result.frame.time_s)
                else:
                    files["annotated"] = _save_png_fast(canvas, out_dir / "annotated.png")
        except MediaError as err:  # failed part-way; name the upload, not the temporary copy
            raise MediaError(source, err.problem) from None
        except (OSError, EOFError) as err:
            raise MediaError(source, str(err)) from None
        finally:
            if video is not None:
                written = video.close()
                if written is not None:
                    files["annotated"] = written
        columns = analyzer.columns()
        table = conform(rows_to_frame(rows, columns), columns)
        if options.plots and out_dir is not None:
            files.update(self._plots(table, out_dir, options))
        return AnalysisResult(kind, frame_count, len(table), list(columns), _records(table),
                              files, table=table)

    def _plots(self, table, out_dir: Path, options: RequestOptions) -> dict[str, Path]:
        from emoscope.inference.plots import plot_results

        with _PLOT_LOCK:
            written = plot_results(table, self.labels, out_dir, "plot",
                                   max(options.smooth, 5), options.smooth_method)
        return {p.stem.removeprefix("plot_"): p for p in written}

    def close(self) -> None:
        for analyzer in self._all:
            analyzer.detector.close()


def _save_png_fast(rgb, path: Path) -> Path:
    """PNG at zlib level 1 rather than Pillow's default 6: faster to write for slightly larger
    files, the better trade for a response someone is waiting for."""
    from PIL import Image

    from emoscope.utils.files import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG", compress_level=1)
    return path


def _records(table) -> list[dict[str, object]]:
    """Rows as JsonWriter writes ``--format json``: same columns, same precision."""
    return json.loads(table.to_json(orient="records", double_precision=6)) if len(table) \
        else []


def _check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise AnalysisTimeout()


def _open_frames(path: Path, kind: str, options: RequestOptions,
                 deadline: float) -> Iterator[Frame]:
    """The frames of an image, or of a video with the deadline checked at every decoded frame
    (frames that sampling skips included: a long video with a sparse rate decodes for long)."""
    if kind == "image":
        from emoscope.inference.sources_run import open_frames

        return open_frames(path, kind)[0]
    reader = VideoReader(path, every=options.every, fps=options.fps,
                         check=lambda: _check_deadline(deadline))
    return iter(reader)


def _until(frames: Iterator[Frame], deadline: float) -> Iterator[Frame]:
    for frame in frames:
        _check_deadline(deadline)
        yield frame


def check_decodable(source: str, path: Path, image) -> None:
    """The reader's size and padding checks, naming the upload instead of its temporary copy."""
    from emoscope.data.images import check_decodable as check

    try:
        check(path, image, image.width, image.height)
    except MediaError as err:
        raise MediaError(source, err.problem) from None


def check_image(path: Path, source: str) -> None:
    """Decode every byte: the library's reader falls back to OpenCV, which shows a truncated
    JPEG as a half-grey picture; a service should say the upload is broken instead. Images
    over the pixel limits are refused from their declared size."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                check_decodable(source, path, image)
                if image.format == "JPEG":  # every byte is still read, 1/64 of the pixels made
                    image.draft(image.mode, (max(1, image.width // 8),
                                             max(1, image.height // 8)))
                image.load()
    except Image.DecompressionBombError:
        raise MediaError(source, "image too large to decode safely") from None
    except (OSError, SyntaxError, ValueError) as err:
        if "truncated" in str(err) or "broken data stream" in str(err):
            raise MediaError(source, f"truncated image ({err})") from None
        # Other PIL failures (16-bit TIFF, ...) are left to the reader and its OpenCV fallback.
