"""MediaPipe face detection (BlazeFace); both models ship inside mediapipe 0.10.21, offline."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np

from emoscope.errors import UserError
from emoscope.faces.detectors.base import FaceBox, FaceDetector, suppress_overlaps
from emoscope.registry import DETECTORS

log = logging.getLogger(__name__)


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence C++ libraries' writes to file descriptor 2 (not Python's logging)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

RangeChoice = Literal["short", "full", "auto"]


@DETECTORS.register("mediapipe")
class MediaPipeDetector(FaceDetector):
    """BlazeFace: ``short`` range (faces within ~2 m), ``full`` range (~5 m), or ``auto``.

    ``auto`` runs both (about 2 ms each at 640x360) and merges their boxes: the short-range
    model finds close-ups the full-range one misses, and the full-range one finds the small
    faces in group photos.

    A frame in which the whole-frame pass finds no face is searched again on 2x2 overlapping
    tiles, keeping tile boxes of confidence 0.7 or more: BlazeFace misses some faces that fill
    a third of the frame and finds them once they fill more of its input, and 0.7 keeps the
    tiles' false faces out (docs/research/face-detection.md). ``tiles=1`` turns this off.
    """

    name = "mediapipe"

    def __init__(self, model: RangeChoice = "auto", tiles: int = 2, tile_when_empty: bool = True,
                 tile_threshold: float | None = 0.7, **options: object):
        super().__init__(tiles=tiles, tile_when_empty=tile_when_empty,
                         tile_threshold=tile_threshold, **options)
        if model not in ("short", "full", "auto"):
            raise UserError(f"mediapipe model must be short, full or auto, got '{model}'")
        try:
            from mediapipe.python.solutions import face_detection
        except ImportError as err:
            raise UserError(
                "detector 'mediapipe' needs mediapipe 0.10.21: "
                "pip install --no-deps mediapipe==0.10.21 (or use --detector opencv)"
            ) from err
        self.model = model
        # mediapipe's own threshold is set low; ``filter`` applies ours after clipping.
        confidence = min(self.threshold, 0.3)
        self._graphs = {}
        with quiet_native_stderr():  # TFLite and absl greet on stderr; keep errors one line
            if model in ("short", "auto"):
                self._graphs["short"] = face_detection.FaceDetection(
                    min_detection_confidence=confidence, model_selection=0)
            if model in ("full", "auto"):
                self._graphs["full"] = face_detection.FaceDetection(
                    min_detection_confidence=confidence, model_selection=1)
            for graph in self._graphs.values():
                graph.process(np.zeros((64, 64, 3), np.uint8))  # first call logs too

    def _run(self, which: str, rgb: np.ndarray) -> list[FaceBox]:
        result = self._graphs[which].process(np.ascontiguousarray(rgb))
        height, width = rgb.shape[:2]
        boxes = []
        for detection in result.detections or []:
            rel = detection.location_data.relative_bounding_box
            marks = tuple(
                (p.x * width, p.y * height) for p in detection.location_data.relative_keypoints
            )
            x1, y1 = rel.xmin * width, rel.ymin * height
            boxes.append(FaceBox(x1, y1, x1 + rel.width * width, y1 + rel.height * height,
                                 float(detection.score[0]), marks or None))
        return boxes

    def _detect(self, rgb: np.ndarray, min_face: float) -> list[FaceBox]:
        if self.model != "auto":
            return self._run(self.model, rgb)
        return suppress_overlaps(self._run("short", rgb) + self._run("full", rgb))

    def close(self) -> None:
        for graph in self._graphs.values():
            graph.close()
        self._graphs.clear()
