"""Live analysis of a webcam, stream URL or video file, in an OpenCV window or headless."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from emoscope.data.video import StreamReader
from emoscope.errors import UserError
from emoscope.inference.analyze import AnalyzeOptions, build_analyzer
from emoscope.inference.annotate import draw_faces
from emoscope.inference.pipeline import result_rows
from emoscope.inference.sources_run import face_labels

log = logging.getLogger(__name__)

WINDOW = "emoscope"


def _open_window() -> None:
    import cv2

    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error:
        raise UserError(
            "this OpenCV build has no window support (opencv-python-headless); "
            "use --no-window, or pip install opencv-python"
        ) from None


def _rows_logger(rows: list[dict[str, object]]) -> None:
    for row in rows:
        log.info("frame %s t=%.2fs track %s %s", row["frame"], row["time_s"], row["track_id"],
                 row.get("top_label_smooth", row["top_label"]))


def run_live(source: str = "0", options: AnalyzeOptions | None = None, window: bool = True,
             max_frames: int | None = None,
             on_rows: Callable[[list[dict[str, object]]], None] | None = None) -> int:
    """Analyse ``source`` frame by frame until it ends, ``q`` is pressed or ``max_frames``.

    Rows (the columns of ``analyze``) go to ``on_rows``, by default to the log. Returns the
    number of frames analysed.
    """
    import cv2

    options = replace(options or AnalyzeOptions(), annotate=window)
    options.validate()
    reader = StreamReader(source, every=options.every)
    if window:
        _open_window()
    analyzer = build_analyzer(options)
    analyzer.max_buffer_frames = 1  # live: every frame is shown as soon as it is analysed
    on_rows = on_rows or _rows_logger
    frames, fps, last = 0, 0.0, time.monotonic()
    try:
        for result in analyzer.analyse(reader):
            frames += 1
            now = time.monotonic()
            fps = 0.9 * fps + 0.1 / max(now - last, 1e-6) if frames > 1 else 0.0
            last = now
            on_rows(result_rows(result, reader.source, analyzer.labels))
            if window:
                canvas = draw_faces(result.frame.rgb, face_labels(result, analyzer.labels),
                                    note=f"{fps:.1f} fps  (q quits)")
                cv2.imshow(WINDOW, cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
            if max_frames is not None and frames >= max_frames:
                break
    finally:
        reader.close()
        analyzer.detector.close()
        if window:
            cv2.destroyAllWindows()
    return frames
