"""Per-track summary, accumulated row by row so the full table never needs to be in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from emoscope.faces.face_mesh import POSE_COLUMNS


@dataclass
class _TrackStats:
    frames: int = 0
    first_frame: int = 0
    last_frame: int = 0
    start_s: float = 0.0
    end_s: float = 0.0
    det_score_sum: float = 0.0
    prob_sum: np.ndarray | None = None
    va_sum: np.ndarray | None = None
    au_active: np.ndarray | None = None  # frames on which each action unit was active
    label_counts: dict[int, int] = field(default_factory=dict)
    pose_sum: np.ndarray = field(default_factory=lambda: np.zeros(3))
    pose_frames: int = 0  # frames on which the face mesh gave a pose


def summary_columns(labels: Sequence[str], valence_arousal: bool,
                    action_units: Sequence[str] = (), head_pose: bool = False) -> dict[str, str]:
    columns = {
        "source": "string", "track_id": "int64", "frames": "int64", "first_frame": "int64",
        "last_frame": "int64", "start_s": "float64", "end_s": "float64",
        "mean_det_score": "float64",
    }
    columns.update({f"mean_p_{label}": "float64" for label in labels})
    columns.update({"dominant_label": "string", "most_frequent_label": "string",
                    "most_frequent_share": "float64"})
    if valence_arousal:
        columns.update({"mean_valence": "float64", "mean_arousal": "float64"})
    columns.update({f"active_share_{name}": "float64" for name in action_units})
    if head_pose:
        columns.update({f"mean_{name}": "float64" for name in POSE_COLUMNS})
    return columns


class TrackSummary:
    """Counts, time span, mean probabilities and label frequencies per (source, track); for
    multi-task models also the share of frames each action unit was active (p >= 0.5); with
    head pose, its mean over the frames on which the mesh found the face."""

    def __init__(self, labels: Sequence[str], valence_arousal: bool = False,
                 action_units: Sequence[str] = (), head_pose: bool = False):
        self.head_pose = head_pose
        self.labels = list(labels)
        self.valence_arousal = valence_arousal
        self.action_units = list(action_units)
        self._stats: dict[tuple[str, int], _TrackStats] = {}

    def add(self, source: str, track_id: int, frame: int, time_s: float, det_score: float,
            probabilities: np.ndarray, valence_arousal: np.ndarray | None = None,
            action_units: np.ndarray | None = None,
            head_pose: np.ndarray | None = None) -> None:
        stats = self._stats.get((source, track_id))
        if stats is None:
            stats = _TrackStats(first_frame=frame, start_s=time_s,
                                prob_sum=np.zeros(len(self.labels)))
            self._stats[(source, track_id)] = stats
        stats.frames += 1
        stats.last_frame = frame
        stats.end_s = time_s
        stats.det_score_sum += det_score
        stats.prob_sum += probabilities
        top = int(np.argmax(probabilities))
        stats.label_counts[top] = stats.label_counts.get(top, 0) + 1
        if valence_arousal is not None:
            stats.va_sum = valence_arousal if stats.va_sum is None else stats.va_sum + \
                valence_arousal
        if action_units is not None and self.action_units:
            active = (np.asarray(action_units) >= 0.5).astype(np.int64)
            stats.au_active = active if stats.au_active is None else stats.au_active + active
        if head_pose is not None and np.isfinite(head_pose).all():
            stats.pose_sum += head_pose
            stats.pose_frames += 1

    def _row(self, key: tuple[str, int], stats: _TrackStats) -> dict[str, object]:
        mean = stats.prob_sum / stats.frames
        frequent = max(stats.label_counts, key=lambda i: (stats.label_counts[i], -i))
        row: dict[str, object] = {
            "source": key[0], "track_id": key[1], "frames": stats.frames,
            "first_frame": stats.first_frame, "last_frame": stats.last_frame,
            "start_s": stats.start_s, "end_s": stats.end_s,
            "mean_det_score": stats.det_score_sum / stats.frames,
        }
        row.update({f"mean_p_{label}": float(p) for label, p in zip(self.labels, mean,
                                                                     strict=True)})
        row["dominant_label"] = self.labels[int(np.argmax(mean))]
        row["most_frequent_label"] = self.labels[frequent]
        row["most_frequent_share"] = stats.label_counts[frequent] / stats.frames
        if self.valence_arousal:
            va = stats.va_sum / stats.frames if stats.va_sum is not None else (np.nan, np.nan)
            row["mean_valence"], row["mean_arousal"] = float(va[0]), float(va[1])
        for k, name in enumerate(self.action_units):
            share = stats.au_active[k] / stats.frames if stats.au_active is not None else np.nan
            row[f"active_share_{name}"] = float(share)
        if self.head_pose:
            pose = stats.pose_sum / stats.pose_frames if stats.pose_frames else np.full(3, np.nan)
            row.update({f"mean_{name}": float(v) for name, v in zip(POSE_COLUMNS, pose,
                                                                    strict=True)})
        return row

    def table(self) -> pd.DataFrame:
        columns = summary_columns(self.labels, self.valence_arousal, self.action_units,
                                  self.head_pose)
        rows = [self._row(key, stats) for key, stats in self._stats.items()]
        if not rows:
            return pd.DataFrame({n: pd.Series(dtype=d) for n, d in columns.items()})
        return pd.DataFrame.from_records(rows)[list(columns)].astype(columns)
