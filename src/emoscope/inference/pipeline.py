"""Frames -> detections -> tracks -> batched predictions -> smoothed per-face results.

The same ``FrameAnalyzer`` serves files and live sources: frames are buffered only until
``batch_size`` faces are waiting (or a few frames when faces are rare), then the model runs
once for all of them and results come out in frame order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from emoscope.data.video import Frame
from emoscope.faces.detectors.base import FaceBox, FaceDetector
from emoscope.faces.face_mesh import POSE_COLUMNS, FaceGeometry
from emoscope.inference.predictor import FacePredictor
from emoscope.inference.smoothing import SmoothMethod, TrackSmoother
from emoscope.inference.tracker import FaceTracker

if TYPE_CHECKING:
    from emoscope.inference.options import AnalyzeOptions


@dataclass
class FrameResult:
    """Faces of one frame; boxes in the frame's own pixels (``frame.scale`` maps to source)."""

    frame: Frame
    boxes: list[FaceBox]
    track_ids: list[int]
    probabilities: np.ndarray  # (n, C)
    smoothed: np.ndarray | None = None  # (n, C) when smoothing is on
    valence_arousal: np.ndarray | None = None  # (n, 2)
    action_units: np.ndarray | None = None  # (n, K) probabilities of multi-task models
    au_labels: Sequence[str] = ()  # the K action-unit names
    smoothed_valence_arousal: np.ndarray | None = None  # with smoothing on, as ``smoothed``
    smoothed_action_units: np.ndarray | None = None
    head_pose: np.ndarray | None = None  # (n, 3) yaw, pitch, roll degrees (faces/face_mesh.py)
    landmarks: np.ndarray | None = None  # (n, 468, 2) face-mesh x, y in the frame's pixels


@dataclass
class _Pending:
    frame: Frame
    boxes: list[FaceBox]
    track_ids: list[int]
    crops: list[np.ndarray] = field(default_factory=list)
    head_pose: np.ndarray | None = None
    landmarks: np.ndarray | None = None


class FrameAnalyzer:
    """Detector + tracker + predictor + smoother for one stream of frames at a time.

    keep_pixels: keep frame pixels in results (for annotation); otherwise they are dropped
    once the face crops are cut, so buffered frames cost almost no memory.
    geometry: a ``FaceGeometry`` adds head pose (and landmarks) per face; None: neither.
    """

    def __init__(self, detector: FaceDetector, predictor: FacePredictor, smooth: int = 1,
                 smooth_method: SmoothMethod = "ema", keep_pixels: bool = False,
                 max_buffer_frames: int = 32, tracker: FaceTracker | None = None,
                 geometry: FaceGeometry | None = None):
        self.detector = detector
        self.predictor = predictor
        self.tracker = tracker or FaceTracker()
        self.smoother = TrackSmoother(smooth, smooth_method)
        self.keep_pixels = keep_pixels
        self.max_buffer_frames = max(1, max_buffer_frames)
        self.geometry = geometry

    @property
    def labels(self) -> list[str]:
        return self.predictor.labels

    def columns(self) -> dict[str, str]:
        """Column name -> dtype of the per-face table this model and smoothing produce."""
        from emoscope.inference.writers import result_columns

        geometry = self.geometry
        return result_columns(self.labels, self.predictor.has_valence_arousal,
                              self.smoother.enabled, getattr(self.predictor, "au_labels", ()),
                              head_pose=geometry is not None,
                              landmarks=geometry is not None and geometry.keep_landmarks)

    def reset(self) -> None:
        """Start a new, unrelated stream: fresh track ids and smoothing state."""
        self.tracker.reset()
        self.smoother.reset()

    def analyse(self, frames: Iterable[Frame]) -> Iterator[FrameResult]:
        """Results for ``frames``, in order, computed in batches."""
        pending: list[_Pending] = []
        waiting_faces = 0
        for frame in frames:
            boxes = self.detector.detect(frame.rgb)
            track_ids = self.tracker.update(boxes, frame.time_s)
            crops = self.predictor.crops(frame.rgb, boxes)
            poses = marks = None
            if self.geometry is not None:
                poses, marks = self.geometry.measure(frame.rgb, boxes)
            if not self.keep_pixels:
                frame = Frame(np.empty((0, 0, 3), np.uint8), frame.index, frame.time_s,
                              frame.scale)
            pending.append(_Pending(frame, boxes, track_ids, crops, poses, marks))
            waiting_faces += len(crops)
            if waiting_faces >= self.predictor.batch_size or len(pending) >= \
                    self.max_buffer_frames:
                yield from self._run(pending)
                pending, waiting_faces = [], 0
        if pending:
            yield from self._run(pending)

    def _run(self, pending: list[_Pending]) -> Iterator[FrameResult]:
        crops = [crop for item in pending for crop in item.crops]
        predictions = self.predictor.predict(crops)
        start = 0
        live_tracks = {t.track_id for t in self.tracker.tracks}
        for item in pending:
            stop = start + len(item.crops)
            probs = predictions.probabilities[start:stop]
            va = aus = None
            if predictions.valence_arousal is not None:
                va = predictions.valence_arousal[start:stop]
            if getattr(predictions, "action_units", None) is not None:
                aus = predictions.action_units[start:stop]
            result = FrameResult(item.frame, item.boxes, item.track_ids, probs, None, va, aus,
                                 getattr(self.predictor, "au_labels", ()),
                                 head_pose=item.head_pose, landmarks=item.landmarks)
            if self.smoother.enabled:
                self._smooth(result)
            start = stop
            yield result
        self.smoother.forget(live_tracks)

    def _smooth(self, result: FrameResult) -> None:
        """Per-track smoothing of the probabilities, and of VA / AUs when the model has them
        (one state per track over their concatenation)."""
        parts = [p for p in (result.probabilities, result.valence_arousal, result.action_units)
                 if p is not None]
        joined = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        smoothed = np.array([self.smoother.update(tid, row) for tid, row in
                             zip(result.track_ids, joined, strict=True)])
        smoothed = smoothed.reshape(len(result.track_ids), joined.shape[1])
        widths = np.cumsum([p.shape[1] for p in parts])[:-1]
        pieces = iter(np.split(smoothed, widths, axis=1))
        result.smoothed = next(pieces)
        if result.valence_arousal is not None:
            result.smoothed_valence_arousal = next(pieces)
        if result.action_units is not None:
            result.smoothed_action_units = next(pieces)


def result_rows(result: FrameResult, source: str, labels: list[str]) -> list[dict[str, object]]:
    """One table row per face, boxes in source pixels (see ``writers.result_columns``)."""
    rows = []
    scale = result.frame.scale
    for i, (box, track_id) in enumerate(zip(result.boxes, result.track_ids, strict=True)):
        probs = result.probabilities[i]
        row: dict[str, object] = {
            "source": source,
            "frame": result.frame.index,
            "time_s": round(float(result.frame.time_s), 6),
            "track_id": int(track_id),
            "x1": round(box.x1 * scale, 1),
            "y1": round(box.y1 * scale, 1),
            "x2": round(box.x2 * scale, 1),
            "y2": round(box.y2 * scale, 1),
            "det_score": round(float(box.score), 4),
        }
        row.update({f"p_{label}": float(p) for label, p in zip(labels, probs, strict=True)})
        row["top_label"] = labels[int(np.argmax(probs))]
        if result.valence_arousal is not None:
            row["valence"], row["arousal"] = (float(v) for v in result.valence_arousal[i])
        if result.action_units is not None:
            row.update({f"au_{name}": float(p) for name, p in
                        zip(result.au_labels, result.action_units[i], strict=True)})
        if result.smoothed is not None:
            smooth = result.smoothed[i]
            row.update({f"smooth_{label}": float(p) for label, p in zip(labels, smooth,
                                                                          strict=True)})
            row["top_label_smooth"] = labels[int(np.argmax(smooth))]
        if result.smoothed_valence_arousal is not None:
            row["smooth_valence"], row["smooth_arousal"] = (
                float(v) for v in result.smoothed_valence_arousal[i])
        if result.smoothed_action_units is not None:
            row.update({f"smooth_au_{name}": float(p) for name, p in
                        zip(result.au_labels, result.smoothed_action_units[i], strict=True)})
        if result.head_pose is not None:
            row.update({name: round(float(v), 2) for name, v in
                        zip(POSE_COLUMNS, result.head_pose[i], strict=True)})
        if result.landmarks is not None:
            marks = result.landmarks[i] * scale
            row.update({f"lm_x_{k}": round(float(x), 1) for k, x in enumerate(marks[:, 0])})
            row.update({f"lm_y_{k}": round(float(y), 1) for k, y in enumerate(marks[:, 1])})
        rows.append(row)
    return rows


def build_analyzer(options: AnalyzeOptions) -> FrameAnalyzer:
    """The detector, model and tracker ``options`` ask for, as one ``FrameAnalyzer``."""
    from emoscope.faces.detectors import build_detector

    predictor = FacePredictor.from_name(options.model, device=options.device,
                                        runtime=options.runtime,
                                        batch_size=options.batch_size, align=options.align)
    detector = build_detector(options.detector, threshold=options.threshold,
                              min_face=options.min_face, max_faces=options.max_faces,
                              **options.detector_options)
    geometry = None
    if options.pose or options.landmarks:
        from emoscope.faces.face_mesh import FaceGeometry

        geometry = FaceGeometry(landmarks=options.landmarks)
    return FrameAnalyzer(detector, predictor, options.smooth, options.smooth_method,
                         keep_pixels=options.annotate,
                         max_buffer_frames=8 if options.annotate else 64, geometry=geometry)
