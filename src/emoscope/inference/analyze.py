"""``analyze``: images, folders and videos -> per-face tables, summaries, plots, annotations.

Each input (a file or a folder) gets ``<stem>.<format>`` under ``out``, plus
``<stem>_tracks.<format>`` (per-track summary), plots and, with ``annotate``, an annotated
png/mp4. A bad input is reported in one line and the others are still analysed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from emoscope.data.sources import MediaInput
from emoscope.errors import MediaError, UserError
from emoscope.inference.options import AnalysisReport, AnalyzeOptions, InputReport, Progress
from emoscope.inference.pipeline import build_analyzer
from emoscope.inference.sources_run import SourceRun, open_frames

log = logging.getLogger(__name__)


def _unique_stem(name: str, used: set[str]) -> str:
    stem, n = name or "input", 2
    while stem in used:
        stem, n = f"{name}-{n}", n + 1
    used.add(stem)
    return stem


def run_analysis(inputs: Sequence[str | Path], options: AnalyzeOptions,
                 progress: Progress | None = None, collect: bool = False,
                 on_error: Callable[[str], None] | None = None) -> AnalysisReport:
    """Analyse every input; errors are reported per input (``on_error``), never raised."""
    options.validate()
    if not inputs:
        raise UserError("no inputs given")
    if options.annotate and options.out is None:
        raise UserError("annotate needs an output folder (out=...)")
    out_dir = Path(options.out) if options.out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        _save_options(options, out_dir)
    analyzer = build_analyzer(options)
    from emoscope.inference.voice import VoiceStage

    voice = VoiceStage(options, out_dir)
    progress = progress or Progress()
    used: set[str] = set()
    reports, tables = [], []
    try:
        for raw in inputs:
            try:
                name, media = classify_input(raw, options)
            except MediaError as err:
                reports.append(InputReport(str(raw), False, errors=[str(err)]))
                (on_error or log.error)(str(err))
                continue
            report, table = analyse_one(raw, media, _unique_stem(name, used), options, analyzer,
                                        voice, out_dir, progress, collect, on_error or log.error)
            reports.append(report)
            if table is not None:
                tables.append(table)
    finally:
        analyzer.detector.close()
    table = pd.concat(tables, ignore_index=True) if collect and tables else None
    return AnalysisReport(reports, table)


def classify_input(raw: str | Path, options: AnalyzeOptions) -> tuple[str, MediaInput | None]:
    """(name its outputs are stemmed from, the resolved media); media is None for an audio
    file, which gets the voice timeline alone. MediaError for what cannot be analysed."""
    from emoscope.data.sources import resolve_input
    from emoscope.inference.voice import is_audio_file

    if options.voice and is_audio_file(raw):
        return Path(raw).stem, None
    media = resolve_input(raw)
    return media.name, media


def analyse_one(raw: str | Path, media: MediaInput | None, stem: str, options: AnalyzeOptions,
                analyzer, voice, out_dir: Path | None, progress: Progress, collect: bool,
                on_error: Callable[[str], None]) -> tuple[InputReport, pd.DataFrame | None]:
    """One classified input, as ``run_analysis`` and each Ray task analyse it: its report and,
    with ``collect``, its face rows."""
    if media is None:
        report = voice.audio_input(Path(raw), stem)
        for error in report.errors:
            on_error(error)
        return report, None
    run = SourceRun(media, stem, options, analyzer, out_dir, progress, collect, on_error,
                    voice if options.voice else None)
    report = run.execute()  # writes the voice tables of videos and of a folder's audio files
    if run.voice_table is not None and report.ok:
        report.files.extend(voice.video_input(media.path, run.stem, _face_table(run, report),
                                              list(analyzer.labels), voice=run.voice_table))
    return report, run.collected if collect else None


def _face_table(run: SourceRun, report: InputReport) -> pd.DataFrame | None:
    """The face rows of a finished input: collected in memory, or read back from its table."""
    if run.collected is not None:
        return run.collected
    from emoscope.inference.writers import read_table

    tables = [f for f in report.files
              if f.stem == run.stem and f.suffix in (".csv", ".json", ".parquet")]
    return read_table(tables[0]) if tables else None


def _save_options(options: AnalyzeOptions, out_dir: Path) -> None:
    import yaml

    from emoscope.utils.files import atomic_write_text

    atomic_write_text(out_dir / "analyze_config.yaml", yaml.safe_dump(asdict(options),
                                                                     sort_keys=False))


def analyze(path_or_paths, **options: object) -> pd.DataFrame:
    """Analyse images, folders or videos; one row per face per analysed frame.

    Keyword options are the fields of ``AnalyzeOptions`` (``out=`` also writes the files).
    Inputs that cannot be read are logged and skipped; if none can be analysed the first
    error is raised. Images in memory (numpy arrays or PIL images, or a list of them; add
    ``channels="bgr"`` for OpenCV's order) are analysed directly (``EmotionAnalyzer``).
    """
    if _in_memory(path_or_paths):
        from emoscope.inference.in_memory import analyze_arrays

        return analyze_arrays(path_or_paths, **options)
    if isinstance(path_or_paths, (str, Path)):
        path_or_paths = [path_or_paths]
    try:
        opts = AnalyzeOptions(**options)
    except TypeError as err:
        raise UserError(f"analyze: {err}") from None
    if opts.out is None:
        opts.plots = False
    report = run_analysis(list(path_or_paths), opts, collect=True)
    if report.analysed == 0:
        raise UserError(report.errors[0] if report.errors else "nothing could be analysed")
    if report.table is not None:
        return report.table
    from emoscope.inference.writers import empty_table, result_columns

    return empty_table(result_columns([], False))


def _in_memory(value: object) -> bool:
    from PIL import Image

    items = value if isinstance(value, (list, tuple)) and value else [value]
    return all(isinstance(v, (np.ndarray, Image.Image)) for v in items)


__all__ = ["AnalyzeOptions", "AnalysisReport", "InputReport", "Progress", "analyze",
           "run_analysis", "open_frames"]
