"""Fusing face and voice over time: late fusion (a weighted average of per-window face and
voice probabilities) and intermediate fusion (an audio-visual model on each window's face
frames and log-mel)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from emoscope.data.audio import SILENCE_DB
from emoscope.errors import UserError
from emoscope.labels import label_map

if TYPE_CHECKING:
    from emoscope.inference.options import AnalyzeOptions

log = logging.getLogger(__name__)


def window_face_probabilities(face_table: pd.DataFrame | None, labels: list[str],
                              start_s: float, end_s: float) -> tuple[np.ndarray | None, int]:
    """Mean face probabilities over every face row with start <= time < end, and the count."""
    if face_table is None or face_table.empty:
        return None, 0
    times = face_table["time_s"].to_numpy(dtype=float)
    rows = face_table[(times >= start_s) & (times < end_s)]
    if rows.empty:
        return None, 0
    probs = rows[[f"p_{label}" for label in labels]].to_numpy(dtype=float)
    return probs.mean(0), len(rows)


def late_fusion(face_table: pd.DataFrame | None, voice_table: pd.DataFrame,
                face_labels: list[str], voice_labels: list[str],
                face_weight: float = 0.5, silence_db: float = SILENCE_DB) -> pd.DataFrame:
    """Per voice window: ``face_weight`` * mean face probabilities + (1 - ``face_weight``) *
    voice probabilities, in the face model's label space (voice classes mapped by name, calm
    into neutral, then renormalised). Windows without a face take the voice alone; silent
    windows (``rms_db`` below ``silence_db``) with a face take the face alone."""
    if not 0.0 <= face_weight <= 1.0:
        raise UserError(f"--face-weight must be within 0-1, got {face_weight}")
    mapping = label_map(voice_labels, face_labels)
    if not mapping.any():
        raise UserError("the face and voice models share no emotion labels")
    rows = []
    for _, window in voice_table.iterrows():
        voice = window[[f"p_{label}" for label in voice_labels]].to_numpy(dtype=float) @ mapping
        voice = voice / max(voice.sum(), 1e-12)
        face, count = window_face_probabilities(face_table, face_labels, window["start_s"],
                                                window["end_s"])
        voiced = float(window.get("rms_db", 0.0)) >= silence_db
        if face is None:
            fused = voice
        else:
            fused = face_weight * face + (1 - face_weight) * voice if voiced else face
        rows.append({"source": window["source"], "window": int(window["window"]),
                     "start_s": window["start_s"], "end_s": window["end_s"], "faces": count,
                     "voiced": voiced,
                     **{f"p_{label}": float(v) for label, v in zip(face_labels, fused,
                                                                    strict=True)},
                     "top_label": face_labels[int(np.argmax(fused))]})
    columns = ["source", "window", "start_s", "end_s", "faces", "voiced",
               *(f"p_{label}" for label in face_labels), "top_label"]
    return pd.DataFrame(rows, columns=columns)


def intermediate_fusion(path: Path, voice_table: pd.DataFrame,
                        options: AnalyzeOptions) -> pd.DataFrame:
    """Per voice window, the audio-visual model (``options.av_model``) on the window's face
    frames (largest face, sampled at ``options.av_fps``) and its log-mel."""
    if not options.av_model:
        raise UserError("--fusion intermediate needs an audio-visual model (--av-model FILE, "
                        "architecture av_intermediate); none ships: the project has no "
                        "audio-visual training data")
    from emoscope.inference.av_windows import AVWindowReader, predict_windows

    reader = AVWindowReader(options)
    return predict_windows(reader, path, voice_table)
