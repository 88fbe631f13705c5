"""A face model on RAVDESS videos through the analysis pipeline's detector and predictor (the
seed's evaluation): ``frames_per_video`` frames spread evenly over each clip, the largest face of
each classified, the probabilities averaged per clip and scored in the 7-class space (calm ->
neutral) unless asked otherwise."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.data.ravdess import clip_label, label_space_for, select_clips
from emoscope.data.video import VideoReader
from emoscope.errors import MediaError, UserError
from emoscope.evaluation.metrics import classification_report
from emoscope.evaluation.speech import merge_matrix
from emoscope.faces.detectors import build_detector
from emoscope.inference.predictor import FacePredictor

log = logging.getLogger(__name__)


def spread_indices(count: int, wanted: int) -> list[int]:
    """``wanted`` frame indices spread evenly over ``count`` frames (centres of equal parts)."""
    if count <= 0:
        return []
    wanted = min(wanted, count)
    return sorted({int((i + 0.5) * count / wanted) for i in range(wanted)})


def clip_probabilities(path: Path, predictor, detector, frames_per_video: int) -> np.ndarray | None:
    """Mean probabilities over the largest face of the sampled frames (None: no face)."""
    frames = [frame.rgb for frame in VideoReader(path)]
    probs = []
    for index in spread_indices(len(frames), frames_per_video):
        boxes = detector.detect(frames[index])
        if boxes:
            largest = max(boxes, key=lambda b: b.width * b.height)
            probs.append(predictor.predict(predictor.crops(frames[index], [largest]))
                         .probabilities[0])
    return np.mean(probs, axis=0) if probs else None


def evaluate_face_model_on_videos(model: str | None, root: str | Path, split: str,
                                  frames_per_video: int, batch_size: int, device: str,
                                  kwargs: dict[str, Any]) -> dict[str, Any]:
    """Accuracy, UAR, confusion matrix and per-clip predictions of a face model on the
    audio-video / video-only mp4 files under ``root``; clips without any face are not scored
    and are listed in ``clips_without_face``."""
    kwargs = dict(kwargs)
    labels = label_space_for(kwargs.pop("label_set", "7"))
    detector = build_detector(kwargs.pop("detector", "mediapipe"))
    clips = select_clips(root, split, modality="video", **kwargs)
    predictor = FacePredictor.from_name(model, device=device, batch_size=batch_size)
    merge = merge_matrix(predictor.labels, labels.labels)
    truth, predicted, rows, no_face = [], [], [], []
    started = time.perf_counter()
    for clip in clips:
        try:
            probs = clip_probabilities(clip.path, predictor, detector, frames_per_video)
        except MediaError as err:
            raise UserError(str(err)) from None
        target = clip_label(clip, labels)
        scores = None if probs is None else probs @ merge
        guess = -1 if scores is None else int(scores.argmax())
        if guess < 0:
            no_face.append(str(clip.path))
        truth.append(target)
        predicted.append(guess)
        rows.append({"source": str(clip.path.relative_to(root)), "speaker": clip.actor,
                     "true": labels.labels[target],
                     "predicted": labels.labels[guess] if guess >= 0 else "no_face",
                     **{f"p_{x}": (round(float(scores[j]), 5) if scores is not None else None)
                        for j, x in enumerate(labels.labels)}})
    detector.close()
    seconds = time.perf_counter() - started
    scored = [(t, p) for t, p in zip(truth, predicted, strict=True) if p >= 0]
    if not scored:
        raise UserError(f"{root}: no face found in any of the {len(clips)} videos")
    report = classification_report(np.array([t for t, _ in scored]),
                                   np.array([p for _, p in scored]), labels.labels)
    report.update(uar=report["balanced_accuracy"], predictions=rows, model=predictor.card.name,
                  clips_without_face=no_face, frames_per_video=frames_per_video,
                  seconds=round(seconds, 3),
                  clips_per_second=round(len(clips) / max(seconds, 1e-9), 2),
                  dataset="ravdess", root=str(root), split=split,
                  speakers=sorted({c.actor for c in clips}))
    return report
