"""Face tracking: a stable ``track_id`` per face across frames.

Each track predicts its box with a constant-velocity model (pixels per second, so variable
frame rates and sampled frames are handled), detections are matched greedily by IoU with the
prediction, then by centre distance for fast motion, and unmatched tracks are kept for
``max_lost`` frames so a face that is briefly occluded or missed keeps its identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emoscope.faces.detectors.base import FaceBox

BoxLike = FaceBox | Sequence[float] | np.ndarray


@dataclass
class Track:
    track_id: int
    box: np.ndarray  # last observed (x1, y1, x2, y2)
    velocity: np.ndarray  # per second, for each coordinate
    last_time: float
    hits: int = 1
    lost: int = 0  # consecutive frames without a match

    def predict(self, time_s: float, horizon_s: float) -> np.ndarray:
        dt = min(max(time_s - self.last_time, 0.0), horizon_s)
        return self.box + self.velocity * dt


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _as_array(boxes: Sequence[BoxLike]) -> np.ndarray:
    rows = [b.as_array() if isinstance(b, FaceBox) else np.asarray(b, float)[:4] for b in boxes]
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


class FaceTracker:
    """IoU + constant-velocity tracker with re-identification after short gaps.

    iou_threshold: least IoU between prediction and detection for a direct match.
    max_lost: analysed frames a track survives unmatched. max_shift: largest centre distance,
    in face sizes, for a match without overlap (grows while a track is lost).
    """

    def __init__(self, iou_threshold: float = 0.3, max_lost: int = 15, max_shift: float = 0.6,
                 velocity_smoothing: float = 0.6, horizon_s: float = 1.0):
        self.iou_threshold = iou_threshold
        self.max_lost = max_lost
        self.max_shift = max_shift
        self.velocity_smoothing = velocity_smoothing
        self.horizon_s = horizon_s  # predictions never extrapolate further than this
        self.tracks: list[Track] = []
        self._next_id = 0
        self._frame = 0

    def reset(self) -> None:
        self.tracks.clear()
        self._next_id = 0
        self._frame = 0

    def update(self, boxes: Sequence[BoxLike], time_s: float | None = None) -> list[int]:
        """Assign a track id to each box of one frame (same order as ``boxes``)."""
        now = float(self._frame if time_s is None else time_s)
        self._frame += 1
        detections = _as_array(boxes)
        pairs = self._match(detections, now)
        ids = [-1] * len(detections)
        matched_tracks = set()
        for track_index, det_index in pairs:
            track = self.tracks[track_index]
            self._observe(track, detections[det_index], now)
            ids[det_index] = track.track_id
            matched_tracks.add(track_index)
        for index, track in enumerate(self.tracks):
            if index not in matched_tracks:
                track.lost += 1
        self.tracks = [t for t in self.tracks if t.lost <= self.max_lost]
        for det_index, track_id in enumerate(ids):
            if track_id < 0:
                ids[det_index] = self._start(detections[det_index], now)
        return ids

    def _start(self, box: np.ndarray, now: float) -> int:
        track = Track(self._next_id, box.copy(), np.zeros(4), now)
        self._next_id += 1
        self.tracks.append(track)
        return track.track_id

    def _observe(self, track: Track, box: np.ndarray, now: float) -> None:
        dt = now - track.last_time
        if dt > 1e-6:
            measured = (box - track.box) / dt
            weight = 1.0 if track.hits == 1 else self.velocity_smoothing
            track.velocity = weight * measured + (1.0 - weight) * track.velocity
        track.box = box.copy()
        track.last_time = now
        track.hits += 1
        track.lost = 0

    def _match(self, detections: np.ndarray, now: float) -> list[tuple[int, int]]:
        if not self.tracks or len(detections) == 0:
            return []
        predicted = np.array([t.predict(now, self.horizon_s) for t in self.tracks])
        ious = iou_matrix(predicted, detections)
        candidates = []
        for ti, track in enumerate(self.tracks):
            for di in range(len(detections)):
                score = self._similarity(ious[ti, di], predicted[ti], detections[di], track.lost)
                if score > 0:
                    candidates.append((score - 1e-3 * track.lost, ti, di))
        candidates.sort(reverse=True)
        used_tracks, used_dets, pairs = set(), set(), []
        for _, ti, di in candidates:
            if ti not in used_tracks and di not in used_dets:
                used_tracks.add(ti)
                used_dets.add(di)
                pairs.append((ti, di))
        return pairs

    def _similarity(self, iou: float, predicted: np.ndarray, det: np.ndarray, lost: int) -> float:
        """IoU matches score in [threshold, 1]; distance-only matches score below threshold."""
        if iou >= self.iou_threshold:
            return float(iou)
        pred_size = np.sqrt(max((predicted[2] - predicted[0]) * (predicted[3] - predicted[1]), 1))
        det_size = np.sqrt(max((det[2] - det[0]) * (det[3] - det[1]), 1))
        if not 0.5 <= det_size / pred_size <= 2.0:
            return 0.0
        shift = np.hypot((predicted[0] + predicted[2] - det[0] - det[2]) / 2,
                         (predicted[1] + predicted[3] - det[1] - det[3]) / 2)
        relative = shift / ((pred_size + det_size) / 2)
        allowed = self.max_shift * min(1.0 + 0.25 * lost, 2.0)
        if relative > allowed:
            return 0.0
        return float(self.iou_threshold * (1.0 - relative / allowed) * 0.99)
